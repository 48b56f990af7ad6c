"""The access commands through a real Mosquitto, published as central publishes them: cache sync by delta,
snapshot and "current", and door_open, fresh and stale."""
from __future__ import annotations

import time

from tests.access_edge.helpers import reference_checksum, wire_credential
from tests.access_gateway.support import DOOR, GRANTED, LOCK_COIL, estate_records
from tests.support.services import wait_until


def lost(card: str, holder: str) -> dict:
    return wire_credential(card, holder, groups=["lobby"], state="lost")


def heartbeat_access(stand_in, version: int) -> dict:
    return wait_until(lambda: ((stand_in.state or {}).get("access") or {}).get("version") == version
                      and stand_in.state["access"], 10, message=f"a heartbeat at cache version {version}")


def last_decision(stand_in, count: int) -> tuple[bool, str]:
    data = stand_in.wait_stored("access.decision", count)[-1]["data"]
    return data["granted"], data["reason"]


def test_the_cache_follows_deltas_snapshots_and_current_notes(rig, stand_in):
    records = estate_records()
    first = heartbeat_access(stand_in, 1)
    assert first["checksum"] == reference_checksum(records) and first["last_synced_at"]

    reply = stand_in.ask("access_delta", {"from_version": 1, "to_version": 2,
                                          "upserts": {"credentials": [lost(GRANTED, "r-1")]}})
    assert (reply["status"], reply["detail"]) == ("ok", "version 2")
    rig.tap(GRANTED)
    assert last_decision(stand_in, 1) == (False, "lost")

    reply = stand_in.ask("access_delta", {"from_version": 7, "to_version": 8, "deletes": {"credentials": [GRANTED]}})
    assert (reply["status"], reply["detail"]) == ("refused", "at version 2")
    assert stand_in.ask("access_current", {"version": 2})["status"] == "ok"
    reply = stand_in.ask("access_current", {"version": 9})
    assert (reply["status"], reply["detail"]) == ("refused", "at version 2")

    whole = estate_records()  # card active again, sent as a snapshot in two parts
    parts = [{"credentials": whole["credentials"][:3]},
             {k: v for k, v in whole.items() if k != "credentials"} | {"credentials": whole["credentials"][3:]}]
    one = stand_in.ask("access_snapshot", {"version": 3, "part": 1, "parts": 2, "records": parts[0]})
    assert (one["status"], one["detail"]) == ("ok", "part 1/2")
    two = stand_in.ask("access_snapshot", {"version": 3, "part": 2, "parts": 2, "records": parts[1],
                                           "checksum": reference_checksum(whole)})
    assert (two["status"], two["detail"]) == ("ok", "part 2/2: version 3")
    rig.tap(GRANTED)
    assert last_decision(stand_in, 2) == (True, "granted")

    bad = stand_in.ask("access_snapshot", {"version": 4, "part": 1, "parts": 1, "records": {"credentials": []},
                                           "checksum": reference_checksum(whole)})
    assert bad["status"] == "failed" and "checksum" in bad["detail"]
    rig.tap(GRANTED)
    assert last_decision(stand_in, 3) == (True, "granted"), "the old cache was kept"
    state = heartbeat_access(stand_in, 3)
    assert state["checksum"] == reference_checksum(whole)


def test_door_open_releases_the_lock_and_a_stale_one_is_refused(rig, stand_in):
    reply = stand_in.ask("door_open", {"door": DOOR, "seconds": 2}, issuer="guard:wang")
    assert (reply["status"], reply["detail"]) == ("ok", f"door {DOOR} released for 2 s")
    pulse = wait_until(lambda: (p := rig.sim.pulses(LOCK_COIL)) and p[-1][1] is not None and p[-1], 10,
                       message="the remote-open pulse")
    assert 1.8 <= pulse[1] - pulse[0] <= 3.5
    opened = stand_in.wait_stored("access.remote_open")[0]
    assert opened["data"] == {"door": DOOR, "command_id": reply["command_id"], "issuer": "guard:wang"}

    stale = stand_in.ask("door_open", {"door": DOOR}, ttl_s=-5)
    assert stale["status"] == "expired"
    refused = stand_in.ask("door_open", {"door": "no-such-door"})
    assert refused["status"] == "refused" and "no-such-door" in refused["detail"]
    too_long = stand_in.ask("door_open", {"door": DOOR, "seconds": 600})
    assert too_long["status"] == "failed" and "seconds" in too_long["detail"]
    time.sleep(1.0)
    assert len(rig.sim.pulses(LOCK_COIL)) == 1, "only the fresh command released the lock"
    assert len(stand_in.stored("access.remote_open")) == 1


def test_a_card_lost_while_the_gateway_was_offline_is_denied_first_thing_after_reconnect(rig, stand_in):
    rig.stop()  # the gateway is away; its persistent session keeps what central sends
    delta = stand_in.command("access_delta", {"from_version": 1, "to_version": 2,
                                              "upserts": {"credentials": [lost(GRANTED, "r-1")]}})
    door_open = stand_in.command("door_open", {"door": DOOR}, ttl_s=60)  # the longest a door_open may live
    rig.start()
    assert stand_in.reply(delta)["detail"] == "version 2"
    assert stand_in.reply(door_open)["status"] == "ok"
    order = [r["command_id"] for r in stand_in.replies]
    assert order.index(delta) < order.index(door_open), "the delta queued first is applied first"
    rig.tap(GRANTED)
    assert last_decision(stand_in, 1) == (False, "lost")
    assert len(rig.sim.pulses(LOCK_COIL)) == 1, "the door_open, not the lost card"
