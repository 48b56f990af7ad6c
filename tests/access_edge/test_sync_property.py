"""Property: any sequence of deltas leaves the cache exactly where a resync to the final snapshot does."""
from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.access import AccessCache
from tests.access_edge.helpers import reference_checksum, snapshot

CARDS = [f"C{n:09d}" for n in range(8)]
DOORS = ["d1", "d2", "门3", "d😀4"]
GROUPS = ["g1", "g2", "楼3"]
SCHEDULES = ["s1", "s2"]
POOLS = {"credentials": CARDS, "door_groups": GROUPS, "doors": DOORS, "schedules": SCHEDULES}
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
text = st.text(st.sampled_from(list("ab 王芳\"\\é😀")), min_size=1, max_size=6)
clock = st.builds(lambda h, m, s: f"{h:02d}:{m:02d}:{s:02d}", st.integers(0, 23), st.sampled_from([0, 30, 59]),
                  st.sampled_from([0, 0, 15]))
intervals = st.lists(st.tuples(clock, clock).map(list), max_size=3, unique_by=tuple).map(sorted)
instant = st.integers(0, 3 * 365 * 86400).map(lambda s: datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=s))


def _z(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


@st.composite
def canonical(draw: st.DrawFn, kind: str, key: str) -> dict[str, Any]:
    """A record in canonical wire form."""
    if kind == "credentials":
        start, end = draw(st.one_of(st.none(), instant)), draw(st.one_of(st.none(), instant))
        if start is not None and end is not None and start >= end:
            start, end = end - timedelta(days=1), start + timedelta(seconds=1)
        return {"card": key, "holder_id": draw(text), "holder_name": draw(text),
                "holder_kind": draw(st.sampled_from(["resident", "staff"])),
                "state": draw(st.sampled_from(["active", "suspended", "lost", "returned"])),
                "door_groups": sorted(draw(st.sets(st.sampled_from(GROUPS)))), "valid_from": _z(start),
                "valid_until": _z(end)}
    if kind == "door_groups":
        return {"id": key, "name": draw(text)}
    if kind == "doors":
        apb = draw(st.one_of(st.none(), st.fixed_dictionaries(
            {"zone": st.sampled_from(["estate", "car-park"]), "direction": st.sampled_from(["in", "out"]),
             "reset_after_s": st.sampled_from([None, 60, 43200])})))
        return {"id": key, "name": draw(text), "anti_passback": apb,
                "groups": draw(st.dictionaries(st.sampled_from(GROUPS), st.sampled_from([None, *SCHEDULES])))}
    holidays = draw(st.sets(st.dates(datetime(2025, 1, 1).date(), datetime(2025, 12, 31).date()), max_size=3))
    return {"id": key, "timezone": draw(st.sampled_from(["Asia/Shanghai", "Asia/Urumqi", "UTC"])),
            "weekly": {day: draw(intervals) for day in WEEK}, "holidays": sorted(d.isoformat() for d in holidays),
            "holiday_intervals": draw(intervals)}


@st.composite
def respelled(draw: st.DrawFn, record: dict[str, Any]) -> dict[str, Any]:
    """The same record as central might spell it: other offsets, short times, shuffled lists, omitted fields."""
    out = dict(record)
    if "card" in out:
        groups = list(out["door_groups"]) + draw(st.lists(st.sampled_from(out["door_groups"] or ["g1"]),
                                                          max_size=2 if out["door_groups"] else 0))
        out["door_groups"] = draw(st.permutations(groups))
        for name in ("valid_from", "valid_until"):
            if out[name] is None and draw(st.booleans()):
                del out[name]
            elif out[name] is not None:
                at = datetime.fromisoformat(out[name]).astimezone(timezone(timedelta(hours=8)))
                out[name] = at.isoformat()
    elif "weekly" in out:
        def short(pairs: list[list[str]]) -> list[list[str]]:
            return [[t[:5] if t.endswith(":00") else t for t in pair] for pair in reversed(pairs)]
        out["weekly"] = {day: short(pairs) for day, pairs in out["weekly"].items() if pairs or draw(st.booleans())}
        out["holiday_intervals"] = short(out["holiday_intervals"])
        if not out["holidays"] and draw(st.booleans()):
            del out["holidays"]
    elif "anti_passback" in out:
        apb = out["anti_passback"]
        if apb is None and draw(st.booleans()):
            del out["anti_passback"]
        elif apb is not None and apb["reset_after_s"] is None and draw(st.booleans()):
            out["anti_passback"] = {"zone": apb["zone"], "direction": apb["direction"]}
    return out


@st.composite
def delta_sequences(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, dict[str, dict[str, Any]]], int]:
    """Deltas from version 0, and the canonical records they leave behind."""
    state: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in POOLS}
    deltas, version = [], 0
    for _ in range(draw(st.integers(1, 6))):
        upserts: dict[str, list[dict[str, Any]]] = {}
        deletes: dict[str, list[str]] = {}
        for kind, pool in POOLS.items():
            keys = draw(st.lists(st.sampled_from(pool), unique=True, max_size=3))
            gone = draw(st.lists(st.sampled_from(pool), unique=True, max_size=2))  # missing keys too
            gone = [key for key in gone if key not in keys]
            for key in keys:
                state[kind][key] = draw(canonical(kind, key))
                upserts.setdefault(kind, []).append(draw(respelled(state[kind][key])))
            for key in gone:
                state[kind].pop(key, None)
                deletes.setdefault(kind, []).append(key)
        step = draw(st.integers(1, 3))
        deltas.append({"from_version": version, "to_version": version + step, "upserts": upserts,
                       "deletes": deletes})
        version += step
    return deltas, state, version


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(delta_sequences())
def test_deltas_equal_resync_to_the_final_snapshot(case):
    deltas, state, version = case
    records = {kind: list(table.values()) for kind, table in state.items()}
    expected = reference_checksum(records)
    with tempfile.TemporaryDirectory() as tmp:
        by_deltas = AccessCache(Path(tmp) / "deltas.sqlite")
        for delta in deltas:
            by_deltas.apply_delta(delta)
        by_resync = AccessCache(Path(tmp) / "resync.sqlite")
        by_resync.replace_all(snapshot(version, records))
        assert by_deltas.checksum() == by_resync.checksum() == expected
        assert by_deltas.version == by_resync.version == version
        assert by_deltas.view.records == by_resync.view.records
        by_deltas.close()
        reopened = AccessCache(Path(tmp) / "deltas.sqlite")
        assert reopened.checksum() == expected and reopened.view.records == by_resync.view.records
        reopened.close()
        by_resync.close()

