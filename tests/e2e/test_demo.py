"""`estatelink demo` brings up a working estate and Ctrl-C takes it all down."""
from __future__ import annotations

import re
import signal
import subprocess
import sys

import orjson
import urllib.request

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
        assert f"http://127.0.0.1:{port}/api/v1/events" in log.read_text()
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(30)
    assert code == 0, log.read_text()[-2000:]
    assert "central stopped" in log.read_text()
    assert "gateway stopped" in log.read_text()
