"""Accounts for tests, made through the API as an administrator would."""
from __future__ import annotations

import http.cookiejar
import urllib.request

import orjson

PASSWORD = "Correct-Horse-Battery-7"


class Browser:
    """A cookie-keeping client, like a guard's browser."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1"
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf: str | None = None

    def call(self, method: str, path: str, body: dict | None = None, csrf: bool = True) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if csrf and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        request = urllib.request.Request(self.base + path, method=method, headers=headers,
                                         data=orjson.dumps(body) if body is not None else None)
        try:
            with self.opener.open(request, timeout=10) as resp:
                return resp.status, orjson.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, orjson.loads(err.read() or b"{}")

    def login(self, username: str, password: str = PASSWORD) -> tuple[int, dict]:
        status, body = self.call("POST", "/auth/login", {"username": username, "password": password})
        if status == 200:
            self.csrf = body["csrf_token"]
        return status, body


def make_user(central, username: str, role: str, estates: list[str], **extra) -> int:
    status, body = central.api("/users", method="POST", body={
        "username": username, "password": PASSWORD, "role": role, "estates": estates, **extra})
    assert status == 201, body
    return body["id"]


def token_for(central, username: str) -> str:
    browser = Browser(central.port)
    status, body = browser.login(username)
    assert status == 200, body
    status, body = browser.call("POST", "/auth/tokens", {"name": "tests"})
    assert status == 201, body
    return body["token"]
