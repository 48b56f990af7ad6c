"""A bad config stops `estatelink gateway` / `estatelink central` at once: exit 2, every problem named, nothing touched."""
from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import REPO, free_port

ID_RULE = "a topic-safe id: 1 to 64 of a-z, 0-9, '_', '-', starting with a letter or digit"


@pytest.fixture
def fake_broker() -> Iterator[socket.socket]:
    """A plain TCP listener posing as the broker: whoever tries MQTT shows up in its accept queue."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield sock


def connections(listener: socket.socket, wait: float = 0.0) -> int:
    """How many clients connected (waiting up to `wait` seconds for the first one)."""
    count = 0
    ready, _, _ = select.select([listener], [], [], wait)
    while ready:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            break
        conn.close()
        count += 1
    return count


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "estatelink.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def gateway_config(tmp_path: Path, broker_port: int, *, estate: str, port: str, extra_uplink: str) -> str:
    return f"""
config_version = "test-1"
[estate]
id = "{estate}"
[gateway]
id = "gate-1"
[uplink]
broker = "mqtt://127.0.0.1:{broker_port}"
protocol = "3.1.1"
{extra_uplink}
[outbox]
path = "{tmp_path / 'state' / 'outbox.sqlite'}"
[[devices]]
id = "main-gate-reader"
driver = "ascii_reader"
port = "{port}"
"""


def test_gateway_with_a_bad_config_exits_2_naming_every_problem_and_touches_nothing(tmp_path, fake_broker):
    broker_port = fake_broker.getsockname()[1]
    bad = tmp_path / "BAD.toml"
    bad.write_text(gateway_config(tmp_path, broker_port, estate="Bad Estate", port="", extra_uplink='brokr = "x"'))

    done = run_cli("gateway", "--config", str(bad))

    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == f"{bad}: config has 3 problem(s):"
    problems = sorted(line.strip() for line in lines[1:])
    assert len(problems) == 3, done.stderr
    assert f"estate.id: expected {ID_RULE}, got 'Bad Estate'" in problems
    assert "devices[0].port: expected a serial device path or tcp://host:port, got ''" in problems
    assert any(p.startswith("uplink.brokr: unknown key (check the spelling; allowed keys: broker,") for p in problems)
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "state").exists(), "the outbox (or its folder) was created"
    assert connections(fake_broker) == 0, "the gateway tried to reach the broker"

    # The same file with its mistakes fixed does reach the broker and create the outbox, so the two
    # checks above would have seen it.
    good = tmp_path / "GOOD.toml"
    good.write_text(gateway_config(tmp_path, broker_port, estate="demo", port="/dev/ttyESTATELINKNONE",
                                   extra_uplink=""))
    proc = subprocess.Popen([sys.executable, "-m", "estatelink.cli", "gateway", "--config", str(good)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert connections(fake_broker, wait=20) >= 1, "a gateway with a valid config never tried the broker"
        assert (tmp_path / "state" / "outbox.sqlite").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_central_with_an_unknown_key_exits_2_naming_it(tmp_path, fake_broker):
    database = tmp_path / "central.sqlite"
    bad = tmp_path / "BAD.toml"
    bad.write_text(f"""
databse = "typo at the top"
[database]
url = "sqlite:///{database}"
[broker]
url = "mqtt://127.0.0.1:{fake_broker.getsockname()[1]}"
[http]
port = {free_port()}
prot = 8081
""")

    done = run_cli("central", "--config", str(bad))

    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"{bad}: config has 2 problem(s):")
    assert "\n  databse: " in done.stderr and "\n  http.prot: " in done.stderr
    assert "Traceback" not in done.stderr
    assert not database.exists(), "central created its database despite the bad config"
    assert connections(fake_broker) == 0, "central tried to reach the broker"
