"""Every route, called by every role: the answer matches the one permission table."""
from __future__ import annotations

import http.client
import re

from central.app import create_app
from central.auth.permissions import PERMISSIONS, PUBLIC
from central.auth.roles import Role
from central.config import CentralConfig
from tests.auth.helpers import make_user, token_for


STREAMS = {"live.stream"}
"""Routes that answer with an endless stream: only their status is read."""


def stream_status(central, url: str, token: str | None) -> tuple[int, dict]:  # noqa: ANN001
    connection = http.client.HTTPConnection("127.0.0.1", central.port, timeout=10)
    try:
        connection.request("GET", f"/api/v1{url}", headers={"Authorization": f"Bearer {token}"} if token else {})
        return connection.getresponse().status, {}
    finally:
        connection.close()


def api_routes() -> list[tuple[str, str, str]]:
    """(method, path, route name) of every route under /api/v1."""
    found = []
    for resource in create_app(CentralConfig()).router.resources():
        info = resource.get_info()
        if info.get("prefix") != "/api/v1":
            continue
        for sub in info["app"].router.resources():
            for route in sub:
                if route.method != "HEAD":
                    found.append((route.method, sub.canonical.removeprefix("/api/v1"), route.name))
    return found


def concrete(path: str) -> str:
    """Fill path parameters: numeric ids with 1, estate codes with the user's estate."""
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: "demo" if m.group(1) == "estate" else "1", path)


def test_every_route_with_every_role_matches_the_permission_table(central):
    tokens = {Role.ADMIN: central.token}
    for role in Role:
        if role is not Role.ADMIN:
            make_user(central, f"{role}-user", role, ["demo"], **({"resident_id": 1} if role is Role.RESIDENT else {}))
            tokens[role] = token_for(central, f"{role}-user")

    routes = api_routes()
    assert {name for _, _, name in routes} == set(PERMISSIONS) | PUBLIC, "the table and the app disagree"
    mismatches = []
    for method, path, name in routes:
        if name in ("auth.logout", "auth.password"):
            continue  # would end the session or change the password the rest of the walk relies on
        url = concrete(path)
        body = {} if method in ("POST", "PATCH", "PUT") else None
        status, _ = central.api(url, method=method, body=body, token=None)
        if name not in PUBLIC and status != 401:
            mismatches.append(f"{method} {path} without login: {status}, expected 401")
        for role, token in tokens.items():
            status, answer = (stream_status(central, url, token) if name in STREAMS else
                              central.api(url, method=method, body=body, token=token))
            allowed = name in PUBLIC or role in PERMISSIONS[name]
            if allowed and status in (401, 403):
                mismatches.append(f"{method} {path} as {role}: {status} {answer}, expected access")
            if not allowed and status != 403:
                mismatches.append(f"{method} {path} as {role}: {status}, expected 403")
    assert not mismatches, "\n".join(mismatches)
