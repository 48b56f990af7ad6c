"""Ingest's access consumers: decisions become access log rows, alarm events alarms, remote opens results."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import orjson
from sqlalchemy import select

from central.access import alarms, changelog, log, passes, remote
from central.access.models import AccessLogEntry, Alarm, VisitorPass
from central.ingest.consumers import default_consumers, run_consumers
from central.ingest.parse import event_row
from estatelink import wire
from tests.access_central.conftest import GUARD

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)


def row(seq: int, kind: str, data: dict, *, device: str = "gate-in-reader", device_time: datetime | None = None):
    envelope = wire.Envelope.model_validate(wire.envelope_dict(
        estate="demo", gateway="gate-1", seq=seq, device=device, kind=kind, data=data,
        received_at=T0 + timedelta(seconds=seq), device_time=device_time))
    return event_row(envelope, wire.utc_now())


def decision(seq: int, card: str, granted: bool, reason: str, **extra) -> dict:
    data = {"door": "gate-in", "reader": "gate-in-reader", "card": card, "granted": granted, "reason": reason,
            "holder_id": "r-1", "holder_name": "Wang Fang", "holder_kind": "resident", "pass_id": None, **extra}
    return row(seq, "access.decision", data)


async def consume(engine, rows) -> Counter:
    counters: Counter = Counter()
    async with engine.begin() as conn:
        await run_consumers(conn, default_consumers(), rows, counters)
    return counters


async def test_decisions_become_the_access_log_once(engine, demo):
    rows = [decision(1, "62E3086CED", True, "granted"), decision(2, "62E3086CED", False, "lost"),
            decision(3, "FFFFFFFFFF", False, "unknown_card", holder_id=None, holder_name=None, holder_kind=None),
            row(4, "access.decision", {"door": "gate-in", "card": "X", "granted": "yes", "reason": "granted"}),
            row(5, "card.read", {"card": "62E3086CED"})]
    counters = await consume(engine, rows)
    assert counters["derived_access_log"] == 3 and not counters["consumer_failures_access_log"]
    await consume(engine, rows[:2])  # redelivered: nothing twice
    async with engine.connect() as conn:
        entries = await log.list_log(conn, "demo", log.LogFilter())
        assert [(e["event_seq"], e["card"], e["granted"], e["reason"]) for e in entries] == [
            (3, "FFFFFFFFFF", False, "unknown_card"), (2, "62E3086CED", False, "lost"),
            (1, "62E3086CED", True, "granted")]
        assert entries[-1]["at"] == T0 + timedelta(seconds=1) and entries[-1]["holder_name"] == "Wang Fang"
        denied = await log.list_log(conn, "demo", log.LogFilter(granted=False, holder="r-1"))
        assert [e["event_seq"] for e in denied] == [2]
        window = await log.list_log(conn, "demo", log.LogFilter(since=T0 + timedelta(seconds=2),
                                                                until=T0 + timedelta(seconds=3)))
        assert [e["event_seq"] for e in window] == [2]
        assert [e["event_seq"] for e in await log.list_log(conn, "demo", log.LogFilter(), before_id=entries[1]["id"])
                ] == [1]
        csv = b"".join([chunk async for chunk in log.export(conn, "demo", log.LogFilter(reason="lost"))])
    lines = csv.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[:6] == ["id", "at", "door", "reader", "card", "granted"]
    assert len(lines) == 2 and ",62E3086CED,false,lost," in lines[1]


async def test_alarm_events_open_alarms_that_guards_acknowledge_and_comment(engine, demo):
    rows = [row(1, "door.forced", {"door": "gate-in"}), row(2, "door.held_open", {"door": "gate-in", "open_s": 95}),
            row(3, "device.tamper", {"device": "gate-in-reader"}, device="gateway"),
            row(4, "device.offline", {"device": "b3-lobby-reader"}, device="gateway"),
            row(5, "door.state", {"door": "gate-in", "open": True, "locked": False})]
    counters = await consume(engine, rows)
    await consume(engine, rows)
    assert counters["derived_alarms"] == 4
    async with engine.begin() as conn:
        found = await alarms.list_alarms(conn, "demo", state="open")
        assert [(a["kind"], a["door"], a["device"]) for a in found] == [
            ("device.offline", None, "b3-lobby-reader"), ("device.tamper", None, "gate-in-reader"),
            ("door.held_open", "gate-in", "gate-in-reader"), ("door.forced", "gate-in", "gate-in-reader")]
        forced = found[-1]["id"]
        done = await alarms.acknowledge(conn, GUARD, forced, alarms.Acknowledge(comment="kids; door checked"))
        assert (done["state"], done["acknowledged_by"], done["comment"]) == ("acknowledged", "guard-li",
                                                                            "kids; door checked")
        later = await alarms.comment(conn, GUARD, forced, alarms.CommentBody(comment="lock replaced"))
        assert later["comment"] == "lock replaced" and later["state"] == "acknowledged"
        assert [a["id"] for a in await alarms.list_alarms(conn, "demo", state="open")] == [a["id"] for a in found[:3]]
        assert (await conn.execute(select(Alarm.data).where(Alarm.kind == "door.held_open"))).scalar_one() == {
            "door": "gate-in", "open_s": 95}


async def test_remote_open_events_and_replies_complete_the_record(engine, demo):
    async with engine.begin() as conn:
        door = {"id": demo.doors["gate-in"], "estate": "demo", "gateway": "gate-1", "code": "gate-in", "unlock_s": 5}
        opened, payload = await remote.record_open(conn, GUARD, door, remote.OpenBody(reason="courier"))
    command = wire.loads(wire.Command, payload)
    assert (command.name, command.issuer, command.args) == ("door_open", "guard-li", {"door": "gate-in", "seconds": 5})
    assert command.expires_at - command.issued_at == timedelta(seconds=30)
    await consume(engine, [row(9, "access.remote_open", {"door": "gate-in", "command_id": str(command.id),
                                                         "issuer": "guard-li"})])
    async with engine.begin() as conn:
        done = await remote.get_open(conn, opened["id"])
        assert done["executed_at"] == T0 + timedelta(seconds=9) and done["status"] == "ok"
        reply = wire.Reply(command_id=command.id, name="door_open", status="ok", detail="pulsed 5 s", at=T0)
        assert (await remote.record_reply(conn, reply))["detail"] == "pulsed 5 s"


async def test_a_granted_single_use_pass_is_marked_used(engine, demo):
    async with engine.begin() as conn:
        issued = await passes.issue_pass(conn, GUARD, "demo", passes.PassIssue(visitor_name="Courier",
                                                                               doors=["gate-in"]))
    await consume(engine, [decision(1, f"pass:{issued['id']}", True, "granted", pass_id=issued["id"],
                                    holder_id=None, holder_name=None, holder_kind=None)])
    async with engine.connect() as conn:
        used = (await conn.execute(select(VisitorPass).where(VisitorPass.id == issued["id"]))).one()
        assert used.used_door == "gate-in" and used.used_at is not None
        assert (await conn.execute(select(AccessLogEntry.pass_id))).scalar_one() == issued["id"]


async def test_a_used_single_use_pass_goes_to_the_other_gateways_in_the_next_delta(engine, demo):
    async with engine.begin() as conn:
        once = await passes.issue_pass(conn, GUARD, "demo", passes.PassIssue(visitor_name="Courier",
                                                                             doors=["gate-in"]))
        often = await passes.issue_pass(conn, GUARD, "demo", passes.PassIssue(visitor_name="Nurse", doors=["gate-in"],
                                                                              single_use=False))
        before, _ = await changelog.versions(conn, "demo")
    used = [decision(1, f"pass:{once['id']}", True, "granted", pass_id=once["id"]),
            decision(2, f"pass:{often['id']}", True, "granted", pass_id=often["id"])]
    await consume(engine, used)
    await consume(engine, used)  # redelivered: nothing new to relay
    async with engine.connect() as conn:
        after, _ = await changelog.versions(conn, "demo")
        delta = orjson.loads(orjson.dumps(await changelog.delta(conn, "demo", before)))
        _, checksum = await changelog.state(conn, "demo")
        _, held_before = await changelog.records(conn, "demo")
    assert after == before + 1, "one version for the single-use pass, none for the other or the redelivery"
    [relayed] = delta["used_passes"]
    assert relayed["id"] == once["id"] and relayed["valid_until"].endswith("Z")
    assert datetime.fromisoformat(relayed["valid_until"]) == once["valid_until"]
    assert delta["upserts"] == {} and delta["deletes"] == {}
    assert checksum == changelog.checksum(held_before), "used passes are not records: the checksum ignores them"
