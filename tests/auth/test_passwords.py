"""Passwords are hashed with Argon2id at RFC 9106's low-memory parameters, and checked in constant effort."""
from __future__ import annotations

import asyncio
import time

import argon2
import pytest

from central.auth import passwords, service
from central.auth.principal import SYSTEM
from central.auth.roles import Role

PASSWORD = "Correct-Horse-Battery-7"

pytestmark = pytest.mark.production_kdf


def test_a_password_is_hashed_with_argon2id_at_rfc_9106_low_memory_parameters():
    stored = passwords.hash_password("Correct-Horse-Battery-7")
    assert argon2.extract_parameters(stored) == argon2.profiles.RFC_9106_LOW_MEMORY  # t=3, 64 MiB, p=4
    assert passwords.verify_password(stored, "Correct-Horse-Battery-7")
    assert not passwords.verify_password(stored, "Correct-Horse-Battery-8")
    assert not passwords.verify_password(None, "Correct-Horse-Battery-7")  # an unknown user: the dummy's cost
    assert not passwords.needs_rehash(stored)


def test_a_hash_made_with_weaker_parameters_verifies_and_is_due_for_rehash():
    weak = argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST).hash("Correct-Horse-Battery-7")
    assert passwords.verify_password(weak, "Correct-Horse-Battery-7") and passwords.needs_rehash(weak)  # login rehashes


async def test_logins_do_not_stall_the_event_loop(engine):
    """Ten logins at the production cost (about 0.1 s each) while a ticker asks for the loop every 10 ms."""
    async with engine.begin() as conn:
        await service.create_user(conn, SYSTEM, service.NewUser(username="guard-wang", password=PASSWORD,
                                                                role=Role.GUARD, estates=frozenset({"demo"})))
    gaps: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    stop = asyncio.Event()
    ticking = asyncio.create_task(ticker(stop))
    async with engine.begin() as conn:
        for _ in range(10):
            assert (await service.login(conn, "guard-wang", PASSWORD)).username == "guard-wang"
    stop.set()
    await ticking
    # On the loop, each hash held it ~0.1 s: about one tick a login. Off it, the ticker keeps its 10 ms pace.
    assert len(gaps) >= 40, f"the loop ran {len(gaps)} times in 10 logins, stalling up to {max(gaps) * 1000:.0f} ms"
