"""Passwords are hashed with Argon2id at RFC 9106's low-memory parameters, and checked in constant effort."""
from __future__ import annotations

import argon2
import pytest

from central.auth import passwords

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
