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
import psutil

from tests.support.services import REPO, free_port, wait_until

SIMULATORS = 7
"""ASCII, Wiegand and OSDP readers, the Modbus I/O module, DL/T 645 and CJ/T 188 meter buses, Modbus TCP meters."""


def test_demo_runs_an_estate_and_stops_cleanly_on_ctrl_c(tmp_path):
    port, broker_port = free_port(), free_port()
    log = tmp_path / "demo.log"
    var = tmp_path / "var"
    with log.open("wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "estatelink.cli", "demo", "--port", str(port),
                                 "--broker-port", str(broker_port), "--var", str(var),
                                 "--rate", "20"], stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    parts: list[psutil.Process] = []
    try:
        def token():
            found = re.search(r"Bearer (elk_[A-Za-z0-9_-]+)", log.read_text())
            return found and found.group(1)
        bearer = wait_until(token, 90, interval=0.5, message="the demo to print an API token")

        def get(path: str, token: str) -> dict:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1{path}",
                                             headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request) as resp:
                return orjson.loads(resp.read())

        def card_reads():
            try:
                items = get("/events?kind=card.read", bearer)["items"]
            except OSError:
                return None
            return items if len(items) >= 5 else None
        events = wait_until(card_reads, 60, interval=0.5, message="card reads from the demo estate")
        assert {e["estate"] for e in events} == {"demo"}
        parts = psutil.Process(demo.pid).children(recursive=True)
        assert len([p for p in parts if _is_simulator(p)]) == SIMULATORS, [p.cmdline() for p in parts]

        assert len(get("/estates/demo/units?limit=1000", bearer)["items"]) == 36
        assert len(get("/estates/demo/residents?limit=1000", bearer)["items"]) == 48
        guard = get("/estates/demo/staff", bearer)["items"][0]
        month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
        clocked = wait_until(lambda: get(f"/staff/{guard['id']}/attendance?month={month}", bearer)["items"], 30,
                             message="the guard's card tap to clock them in")
        assert clocked[0]["source"] == "reader"
        resident = login_token(port, "resident")
        assert [u["number"] for u in get("/estates/demo/units", resident)["items"]] == ["0101"]
        text = log.read_text()
        assert f"http://127.0.0.1:{port}/api/v1/events" in text
        assert f"http://127.0.0.1:{port}/console/" in text and "guard" in text
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/console/") as resp:
            assert resp.status == 200

        def decided_both_ways():
            items = get("/events?kind=access.decision&order=desc&limit=1000", bearer)["items"]
            return {e["data"]["granted"] for e in items} == {True, False}
        wait_until(decided_both_ways, 30, interval=0.5, message="a granted and a denied access.decision")

        def granted_at_every_door():
            items = get("/estates/demo/access/log?granted=true&limit=1000", bearer)["items"]
            return {item["door"] for item in items} >= {"main-gate", "side-gate", "garage"}
        wait_until(granted_at_every_door, 40, interval=1, message="grants at the ASCII, Wiegand and OSDP doors")

        def gateway_reading():
            for point in get("/estates/demo/meter-points", bearer)["items"]:
                readings = get(f"/meter-points/{point['id']}/readings", bearer)["items"]
                if any(r["source"] == "gateway" for r in readings):
                    return point
            return None
        point = wait_until(gateway_reading, 30, interval=1, message="a meter.reading stored for a meter point")
        assert point["meter_id"] is not None
    finally:
        parts = parts or _children(demo.pid)
        demo.send_signal(signal.SIGINT)
        code = demo.wait(30)
    assert code == 0, log.read_text()[-2000:]
    text = log.read_text()
    assert "central stopped" in text
    assert "gateway stopped" in text
    _, alive = psutil.wait_procs(parts, timeout=10)
    assert not alive, [p.cmdline() for p in alive]
    assert not (var / "dev").exists(), "a simulator left its pty link behind"


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _is_simulator(process: psutil.Process) -> bool:
    try:
        command = process.cmdline()
    except psutil.NoSuchProcess:
        return False
    return "sim" in command or "simulators.osdp_reader" in command


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
