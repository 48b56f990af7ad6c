"""An in-process central API with billing mounted, real accounts and tokens, for the route and webhook tests."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from aiohttp.test_utils import TestClient, TestServer

from central.auth.principal import SYSTEM
from central.auth.roles import Role
from central.billing.routes import add_routes
from central.billing.runner import billing_context
from central.registry import residents
from tests.support.api_app import api_app, role_tokens

USERS = (("admin", Role.ADMIN, None), ("manager", Role.MANAGER, "demo"), ("manager-b", Role.MANAGER, "other"),
         ("cashier", Role.CASHIER, "demo"), ("guard", Role.GUARD, "demo"), ("resident", Role.RESIDENT, "demo"))


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]

    async def __call__(self, who: str | None, method: str, path: str, body: dict | None = None,
                       headers: dict | None = None) -> tuple[int, dict]:
        auth = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        resp = await self.client.request(method, "/api/v1" + path, json=body, headers={**auth, **(headers or {})})
        return resp.status, await resp.json()


async def make_api(engine, demo: dict[str, int], users: tuple = USERS) -> tuple[TestClient, dict[str, str]]:
    """Accounts of every kind (the resident lives in 3-1201) and a test server with billing's routes."""
    async with engine.begin() as conn:
        me = await residents.create_resident(conn, SYSTEM, "demo", residents.ResidentCreate(name="Resident Self"))
        await residents.add_occupancy(conn, SYSTEM, me["id"], residents.OccupancyCreate(
            unit_id=demo["3-1201"], relation="owner", move_in=date(2020, 1, 1)))
        tokens = await role_tokens(conn, users, me["id"])
    return TestClient(TestServer(api_app(engine, add_routes, cleanup=[billing_context]))), tokens
