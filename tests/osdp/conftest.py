"""Fixtures for the OSDP tests: nothing left behind (tasks, threads, file descriptors), no key in any log."""
from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator

import pytest

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
OTHER_KEY = bytes.fromhex("ffeeddccbbaa99887766554433221100")


@pytest.fixture(autouse=True)
async def no_leftovers(caplog: pytest.LogCaptureFixture) -> AsyncIterator[None]:
    """Fail a test that leaves a task, a thread or a file descriptor behind, or logs a key."""
    fds = set(os.listdir("/proc/self/fd"))
    threads = set(threading.enumerate())
    yield
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert set(threading.enumerate()) <= threads
    assert set(os.listdir("/proc/self/fd")) <= fds, "file descriptors left open"  # earlier tests may close theirs late
    for key in (KEY, OTHER_KEY):
        assert key.hex() not in caplog.text.lower()
