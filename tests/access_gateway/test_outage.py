"""With the broker down, doors keep deciding: every tap is decided, pulsed and logged locally, and after the
broker returns every decision reaches central (its ingest's stand-in, which stores by sequence number and
acks as central does), exactly once."""
from __future__ import annotations

import hashlib

from tests.access_gateway.support import (
    EXPIRED,
    GRANTED,
    LOCK_COIL,
    LOST,
    UNKNOWN,
    DoorRig,
    decisions,
    seed_cache,
)
from tests.support.services import wait_until


def test_decisions_go_on_with_the_uplink_down_and_reach_central_once(tmp_path, mosquitto, stand_in):
    seed_cache(tmp_path / "access.sqlite")
    rig = DoorRig(tmp_path, mosquitto.url, central=stand_in, unlock_s=0.3)
    try:
        rig.start()
        mosquitto.stop()
        taps = [GRANTED, UNKNOWN, EXPIRED, GRANTED, LOST, GRANTED, UNKNOWN, GRANTED]
        for number, card in enumerate(taps, 1):
            rig.tap(card)
            wait_until(lambda: len(decisions(rig.outbox_events())) >= number, 10, message=f"tap {number} decided")
            wait_until(lambda: not rig.sim.coils[LOCK_COIL], 10, message="the lock closed again")
        logged = wait_until(lambda: len(d := decisions(rig.outbox_events())) == len(taps) and d, 15,
                            message="every tap decided and logged with the broker down")
        assert [card for card, _, _ in logged] == taps
        logged_events = rig.outbox_events("access.decision")
        # the pulse is a task of its own: the last grant's coil write may reach the module after its event is logged
        wait_until(lambda: len(rig.sim.pulses(LOCK_COIL)) >= taps.count(GRANTED), 10, message="every grant's pulse")
        assert len(rig.sim.pulses(LOCK_COIL)) == taps.count(GRANTED), "grants released the lock offline"

        mosquitto.start()
        stored = stand_in.wait_stored("access.decision", len(taps), timeout=60)
        assert decisions(stored) == logged
        assert len({e["id"] for e in stored}) == len(stored) == len(taps), "one row per decision"
        assert [e["id"] for e in stored] == [e["id"] for e in logged_events]
        wait_until(lambda: not rig.outbox_events("access.decision"), 30, message="the outbox drained by acks")
    finally:
        rig.close()


def gateway_state(central) -> dict:
    _, body = central.api("/gateways")
    for item in body.get("items", []):
        if item["gateway"] == "gate-1" and item.get("state"):
            return item["state"]
    return {}


def test_central_itself_resyncs_the_gateway_and_stores_its_decisions(tmp_path, mosquitto, central):
    """The same contract from the other side: central (no records for this estate yet) finds the gateway ahead
    of it, sends a snapshot, and the gateway takes it; a tap is then decided from it and stored at central."""
    seed_cache(tmp_path / "access.sqlite")
    rig = DoorRig(tmp_path, mosquitto.url)
    try:
        rig.start()
        empty = hashlib.sha256(b"").hexdigest()
        synced = wait_until(lambda: (gateway_state(central).get("access") or {}).get("checksum") == empty
                            and gateway_state(central)["access"], 60, message="the gateway resynced by central")
        assert synced["version"] == 0 and synced["last_synced_at"]
        rig.tap(GRANTED)
        stored = wait_until(lambda: central.all_events(kind="access.decision"), 30, message="the decision at central")
        assert decisions(stored) == [(GRANTED, False, "unknown_card")], "central's records rule, not the seed"
        assert rig.sim.pulses(LOCK_COIL) == []
    finally:
        rig.close()
