"""A guard for tests of code that runs tasks, threads and transports: a test must leave none of them behind.

Import the fixture where it should hold (`from tests.support.leftovers import no_leftovers  # noqa: F401`):
it is autouse, so it guards every test of the module, or of the folder when imported into its conftest.py.
Only new threads and file descriptors count: an earlier test's may end, or be closed by the garbage
collector, during a later test, and that must not fail the later one.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator

import pytest

_FD_DIR = "/proc/self/fd"
_LOOP_EXECUTOR = "asyncio_"
"""The name prefix of the event loop's default executor threads: the loop owns and ends them when it closes."""
_CHILD_WATCHER = "asyncio-waitpid-"
"""The name prefix of the thread asyncio (3.11) starts per child process: it hands the exit status to the loop,
then ends, often only just after `await process.wait()` has returned in the test."""
_CHILD_WATCHER_GRACE_S = 2.0


def _fds() -> set[str]:
    return set(os.listdir(_FD_DIR))


def _targets(fds: set[str]) -> list[str]:
    found = []
    for fd in sorted(fds):
        with contextlib.suppress(OSError):  # closed since it was listed
            found.append(f"{fd} -> {os.readlink(f'{_FD_DIR}/{fd}')}")
    return found


@contextlib.asynccontextmanager
async def nothing_left_behind() -> AsyncIterator[None]:
    """Fail if the block leaves a task running, or a thread or file descriptor it started or opened."""
    fds, threads = _fds(), set(threading.enumerate())
    yield
    await asyncio.sleep(0)  # a task cancelled in the block's last step finishes here
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    assert not tasks, f"tasks left running: {tasks}"
    started = [t for t in set(threading.enumerate()) - threads if not t.name.startswith(_LOOP_EXECUTOR)]
    for thread in started:
        if thread.name.startswith(_CHILD_WATCHER):  # ending on its own; one whose child still runs stays alive
            thread.join(_CHILD_WATCHER_GRACE_S)
    started = [t for t in started if t.is_alive()]
    assert not started, f"threads left running: {started}"
    opened = _fds() - fds
    assert not opened, f"file descriptors left open: {_targets(opened)}"


@pytest.fixture(autouse=True)
async def no_leftovers() -> AsyncIterator[None]:
    """Fail a test that leaves a task, a thread or a file descriptor behind."""
    async with nothing_left_behind():
        yield
