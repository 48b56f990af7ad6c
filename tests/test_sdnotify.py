"""sd_notify client against real AF_UNIX datagram sockets."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import pytest

from estatelink import sdnotify


def _recv_all(sock: socket.socket) -> list[bytes]:
    """Drain every datagram already queued on the socket."""
    out = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096))
    except BlockingIOError:
        return out
    finally:
        sock.setblocking(True)


def _recv_one(sock: socket.socket) -> bytes:
    sock.settimeout(2)
    return sock.recv(4096)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def path_socket(tmp_path, monkeypatch):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


@pytest.fixture
def abstract_socket(monkeypatch):
    name = f"estatelink-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    yield sock
    sock.close()


def test_not_under_systemd_is_a_noop():
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.ready() is False
    assert sdnotify.watchdog_interval() is None


def test_missing_socket_returns_false(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens.sock"))
    assert sdnotify.ready() is False


def test_exact_datagrams_on_path_socket(path_socket):
    assert sdnotify.ready() is True
    assert _recv_one(path_socket) == b"READY=1"
    assert sdnotify.watchdog_ping() is True
    assert _recv_one(path_socket) == b"WATCHDOG=1"
    assert sdnotify.status("outbox 3 pending") is True
    assert _recv_one(path_socket) == b"STATUS=outbox 3 pending"
    assert sdnotify.stopping() is True
    assert _recv_one(path_socket) == b"STOPPING=1"
    assert _recv_all(path_socket) == []


def test_status_newlines_are_flattened(path_socket):
    sdnotify.status("line one\nline two")
    assert _recv_one(path_socket) == b"STATUS=line one line two"


def test_exact_datagrams_on_abstract_socket(abstract_socket):
    assert sdnotify.ready() is True
    assert _recv_one(abstract_socket) == b"READY=1"
    assert sdnotify.watchdog_ping() is True
    assert _recv_one(abstract_socket) == b"WATCHDOG=1"
    assert sdnotify.status("connected") is True
    assert _recv_one(abstract_socket) == b"STATUS=connected"
    assert sdnotify.stopping() is True
    assert _recv_one(abstract_socket) == b"STOPPING=1"


def test_watchdog_interval_is_half_of_usec(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert sdnotify.watchdog_interval() == pytest.approx(15.0)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    assert sdnotify.watchdog_interval() == pytest.approx(0.1)


def test_watchdog_interval_respects_pid(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == pytest.approx(15.0)
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert sdnotify.watchdog_interval() is None


@pytest.mark.parametrize("value", ["", "0", "-5", "abc"])
def test_watchdog_interval_invalid(monkeypatch, value):
    monkeypatch.setenv("WATCHDOG_USEC", value)
    assert sdnotify.watchdog_interval() is None


async def test_run_watchdog_returns_without_watchdog():
    await asyncio.wait_for(sdnotify.run_watchdog(lambda: True), timeout=1)


async def test_run_watchdog_returns_on_pid_mismatch(monkeypatch, path_socket):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    await asyncio.wait_for(sdnotify.run_watchdog(lambda: True), timeout=1)
    assert _recv_all(path_socket) == []


async def test_run_watchdog_pings_only_while_healthy(monkeypatch, path_socket):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # ping every 0.1 s
    healthy = True
    task = asyncio.create_task(sdnotify.run_watchdog(lambda: healthy))
    try:
        await asyncio.sleep(0.45)
        pings = _recv_all(path_socket)
        assert len(pings) >= 3
        assert set(pings) == {b"WATCHDOG=1"}

        healthy = False
        _recv_all(path_socket)  # anything sent before the flip
        await asyncio.sleep(0.45)
        assert _recv_all(path_socket) == []

        healthy = True
        await asyncio.sleep(0.35)
        assert len(_recv_all(path_socket)) >= 1
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_run_watchdog_treats_raising_check_as_unhealthy(monkeypatch, path_socket):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")

    def broken() -> bool:
        raise RuntimeError("db gone")

    task = asyncio.create_task(sdnotify.run_watchdog(broken))
    try:
        await asyncio.sleep(0.3)
        assert _recv_all(path_socket) == []
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
