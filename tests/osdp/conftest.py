"""Fixtures for the OSDP tests: nothing left behind (tasks, threads, file descriptors), no key in any log."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.leftovers import nothing_left_behind

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
OTHER_KEY = bytes.fromhex("ffeeddccbbaa99887766554433221100")


@pytest.fixture(autouse=True)
async def no_leftovers(caplog: pytest.LogCaptureFixture) -> AsyncIterator[None]:
    """Fail a test that leaves a task, a thread or a file descriptor behind, or logs a key."""
    async with nothing_left_behind():
        yield
    for key in (KEY, OTHER_KEY):
        assert key.hex() not in caplog.text.lower()
