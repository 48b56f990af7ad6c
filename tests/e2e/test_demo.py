"""`estatelink demo` brings up a working estate and Ctrl-C takes it all down."""
from __future__ import annotations

import re
import signal
import subprocess
import sys

import urllib.request
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson

from tests.support.services import REPO, free_port, wait_until


def test_demo_runs_an_estate_and_stops_cleanly_on_ctrl_c(tmp_path):
    port, broker_port = free_port(), free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "estatelink.cli", "demo", "--port", str(port),
                                 "--broker-port", str(broker_port), "--var", str(tmp_path / "var"),
                                 "--rate", "20"], stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        def token():
            found = re.search(r"Bearer (elk_[A-Za-z0-9_-]+)", log.read_text())
            return found and found.group(1)
        bearer = wait_until(token, 60, interval=0.5, message="the demo to print an API token")

        def card_reads():
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/events?kind=card.read",
                                             headers={"Authorization": f"Bearer {bearer}"})
            try:
                with urllib.request.urlopen(request) as resp:
                    items = orjson.loads(resp.read())["items"]
                    return items if len(items) >= 5 else None
            except OSError:
                return None
        events = wait_until(card_reads, 60, interval=0.5, message="card reads from the demo estate")
        assert {e["estate"] for e in events} == {"demo"}

        def get(path: str, token: str) -> dict:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1{path}",
                                             headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request) as resp:
                return orjson.loads(resp.read())
        assert len(get("/estates/demo/units?limit=1000", bearer)["items"]) == 36
        assert len(get("/estates/demo/residents?limit=1000", bearer)["items"]) == 48
        guard = get("/estates/demo/staff", bearer)["items"][0]
        month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
        clocked = wait_until(lambda: get(f"/staff/{guard['id']}/attendance?month={month}", bearer)["items"], 30,
                             message="the guard's card tap to clock them in")
        assert clocked[0]["source"] == "reader"
        resident = login_token(port, "resident")
        assert [u["number"] for u in get("/estates/demo/units", resident)["items"]] == ["0101"]
        assert f"http://127.0.0.1:{port}/api/v1/events" in log.read_text()
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(30)
    assert code == 0, log.read_text()[-2000:]
    assert "central stopped" in log.read_text()
    assert "gateway stopped" in log.read_text()


def login_token(port: int, username: str) -> str:
    """Log in with the printed demo password and make an API token, as a user following the banner would."""
    from estatelink.demo import DEMO_PASSWORD

    def post(path: str, body: dict, headers: dict) -> tuple[dict, dict]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1{path}", data=orjson.dumps(body),
                                         headers={"Content-Type": "application/json", **headers}, method="POST")
        with urllib.request.urlopen(request) as resp:
            return orjson.loads(resp.read()), dict(resp.headers)
    session, headers = post("/auth/login", {"username": username, "password": DEMO_PASSWORD}, {})
    cookie = headers["Set-Cookie"].split(";")[0]
    token, _ = post("/auth/tokens", {"name": "demo test"}, {"Cookie": cookie, "X-CSRF-Token": session["csrf_token"]})
    return token["token"]
