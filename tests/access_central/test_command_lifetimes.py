"""Central issues every command within the lifetime the gateway allows its kind, or the gateway refuses it."""
from __future__ import annotations

from central.access.remote import DOOR_OPEN_TTL
from central.access.sync import SYNC_TTL
from central.ingest.service import REPLAY_COMMAND_TTL
from gateway.access_runtime import DOOR_OPEN_MAX_LIFETIME
from gateway.access_sync import SYNC_MAX_LIFETIME
from gateway.uplink import REPLAY_MAX_LIFETIME


def test_central_issues_commands_within_the_gateway_lifetimes():
    assert DOOR_OPEN_TTL <= DOOR_OPEN_MAX_LIFETIME
    assert SYNC_TTL <= SYNC_MAX_LIFETIME
    assert REPLAY_COMMAND_TTL <= REPLAY_MAX_LIFETIME
