"""Access decision latency with 100,000 cards in the gateway's credential cache.

    .venv/bin/python -m bench.access_decision [--cards 100000] [--taps 20000] [--runs 3]

Builds an estate (40 door groups, 59 doors, 4 schedules in Asia/Shanghai, anti-passback gates) and `--cards`
credentials, loads it with AccessCache.replace_all into a temporary file, then re-opens the file (the
gateway's start-up) and times `decide()` on the re-opened cache: `--taps` taps per run (9 in 10 known cards,
8 in 10 of those at a door of their own groups, instants spread over a week), each timed alone with
perf_counter_ns. Prints p50/p99 per run and the median of the runs, plus load and open times, the index's
memory, and visitor-pass decisions (Ed25519 verification) for comparison. Writes its section of
docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench import _common as c
from estatelink.access_records import KINDS
from gateway.access import AccessCache, decide, decide_pass
from gateway.access.visitor_pass import issue

ESTATE = "bench-estate"
TZ = "Asia/Shanghai"
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def build_snapshot(cards: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, list[str]], list[str]]:
    """An estate's records in canonical wire form, with the checksum computed straight from the spec."""
    blocks = [f"block-{n:02d}" for n in range(1, 36)]
    groups = [*blocks, "main-gates", "car-park", "gym", "pool", "staff-areas"]
    schedules = [
        {"id": "daytime", "timezone": TZ, "weekly": {d: [["06:00:00", "23:00:00"]] for d in WEEK},
         "holidays": [], "holiday_intervals": []},
        {"id": "night-shift", "timezone": TZ, "weekly": {d: [["22:00:00", "06:00:00"]] for d in WEEK},
         "holidays": [], "holiday_intervals": []},
        {"id": "office", "timezone": TZ,
         "weekly": {d: ([["08:00:00", "12:00:00"], ["13:00:00", "18:00:00"]] if d not in ("sat", "sun") else [])
                    for d in WEEK}, "holidays": ["2025-10-01", "2025-10-02"], "holiday_intervals": []},
        {"id": "pool-hours", "timezone": TZ, "weekly": {d: [["07:00:00", "21:30:00"]] for d in WEEK},
         "holidays": [], "holiday_intervals": [["09:00:00", "17:00:00"]]},
    ]
    doors = []
    for n, block in enumerate(blocks):
        doors.append({"id": f"{block}-lobby", "name": f"Block {n + 1} lobby", "groups": {block: None},
                      "anti_passback": None})
    for n in range(1, 5):
        for direction in ("in", "out"):
            doors.append({"id": f"gate-{n}-{direction}", "name": f"Gate {n} ({direction})",
                          "groups": {"main-gates": None, "staff-areas": "night-shift"},
                          "anti_passback": {"direction": direction, "reset_after_s": 43200, "zone": "estate"}})
    for name, group, schedule in [("car-park-barrier", "car-park", None), ("gym", "gym", "daytime"),
                                  ("pool", "pool", "pool-hours"), ("office", "staff-areas", "office")]:
        for n in range(1, 5):
            doors.append({"id": f"{name}-{n}", "name": f"{name} {n}", "groups": {group: schedule},
                          "anti_passback": None})
    credentials = []
    start = datetime(2025, 1, 1, tzinfo=UTC)
    card_ids = rng.sample(range(1 << 40), cards)
    for n, card in enumerate(card_ids):
        staff = n % 50 == 0
        held = ["staff-areas", "main-gates", "gym"] if staff else \
            [rng.choice(blocks), "main-gates", *rng.sample(["car-park", "gym", "pool"], rng.randint(0, 3))]
        until = start + timedelta(days=rng.randint(200, 2000)) if n % 3 == 0 else None
        credentials.append({
            "card": f"{card:010X}", "holder_id": f"{'s' if staff else 'r'}-{n}", "holder_name": f"Holder {n}",
            "holder_kind": "staff" if staff else "resident",
            "state": rng.choices(["active", "suspended", "lost", "returned"], [96, 2, 1, 1])[0],
            "door_groups": sorted(set(held)), "valid_from": "2025-01-01T00:00:00Z",
            "valid_until": until.isoformat().replace("+00:00", "Z") if until else None})
    records = {"credentials": credentials, "door_groups": [{"id": g, "name": g.title()} for g in groups],
               "doors": doors, "schedules": schedules}
    digest = hashlib.sha256()
    for kind in KINDS:
        key = "card" if kind == "credentials" else "id"
        for record in sorted(records[kind], key=lambda r: r[key].encode()):
            digest.update(f"{kind}\t{_canonical(record)}\n".encode())
    snapshot = {"version": 1, "checksum": digest.hexdigest(), "records": records}
    opens = {c["card"]: [d["id"] for d in doors if set(d["groups"]) & set(c["door_groups"])] for c in credentials}
    return snapshot, opens, [d["id"] for d in doors]


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    """p50 and p99 in microseconds."""
    ordered = sorted(samples_ns)
    return ordered[len(ordered) // 2] / 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--taps", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    info = c.machine()
    rng = random.Random(args.seed)
    snapshot, opens, doors = build_snapshot(args.cards, rng)
    cards = list(opens)
    week0 = datetime(2025, 6, 2, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "access.sqlite"
        cache = AccessCache(path)
        began = time.perf_counter()
        cache.replace_all(snapshot, synced_at=week0)
        load_s = time.perf_counter() - began
        cache.close()
        del cache, snapshot
        began = time.perf_counter()
        AccessCache(path).close()
        open_s = time.perf_counter() - began
        tracemalloc.start()
        cache = AccessCache(path)
        index_mib = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
        view = cache.view
        p50s, p99s, granted = [], [], 0
        for run in range(args.runs):
            taps = []
            for _ in range(args.taps):
                card = rng.choice(cards) if rng.random() < 0.9 else f"{rng.getrandbits(40):010X}"
                door = rng.choice(opens[card]) if card in opens and rng.random() < 0.8 else rng.choice(doors)
                taps.append((door, card, week0 + timedelta(seconds=rng.randrange(7 * 86400))))
            samples = []
            clock = time.perf_counter_ns
            for door, card, at in taps:
                t0 = clock()
                decision = decide(view, door, card, at)
                samples.append(clock() - t0)
                granted += decision.granted
            p50, p99 = percentiles(samples)
            p50s.append(p50)
            p99s.append(p99)
            print(f"run {run + 1}: {args.taps} decisions, p50 {p50:.1f} us, p99 {p99:.1f} us")
        key = Ed25519PrivateKey.generate()
        texts = [issue(key, estate=ESTATE, pass_id=n, valid_from=week0, valid_until=week0 + timedelta(days=8),
                       doors=frozenset({rng.choice(doors)})) for n in range(2000)]
        pass_samples = []
        for n, text in enumerate(texts):
            t0 = time.perf_counter_ns()
            decide_pass(view, rng.choice(doors), text, week0 + timedelta(hours=n % 150),
                        public_key=key.public_key(), estate=ESTATE)
            pass_samples.append(time.perf_counter_ns() - t0)
        pass_p50, pass_p99 = percentiles(pass_samples)
        cache.close()
    print(f"cache: {args.cards} cards, {len(doors)} doors; replace_all {load_s:.2f} s, re-open {open_s:.2f} s, "
          f"index {index_mib:.0f} MiB (tracemalloc, after re-open)")
    print(f"card decisions (median of {args.runs} runs): p50 {statistics.median(p50s):.1f} us, "
          f"p99 {statistics.median(p99s):.1f} us ({granted / (args.runs * args.taps):.0%} granted)")
    print(f"visitor-pass decisions (Ed25519 verify, {len(texts)}): p50 {pass_p50:.1f} us, p99 {pass_p99:.1f} us, "
          f"{len(texts[0])} characters per pass")
    c.write_section("access_decision", f"""
## Access decision alone: `decide()` on a cache of {args.cards:,} cards

`.venv/bin/python -m bench.access_decision` — {c.utc_date()}, {c.machine_line(info)}

The decision function by itself on the re-opened cache file ({len(doors)} doors, 40 door groups, weekly
schedules, anti-passback gates), {args.taps:,} taps per run timed one by one (the end-to-end figure is in "Access decision
latency in a real gateway"). Cache load (replace_all) {load_s:.2f} s, re-open {open_s:.2f} s, in-memory index {index_mib:.0f} MiB.

{c.table(["decision", "p50 µs", "p99 µs"], [
    [f"card (median of {args.runs} runs)", f"{statistics.median(p50s):.1f}", f"{statistics.median(p99s):.1f}"],
    ["visitor pass (Ed25519 verify)", f"{pass_p50:.1f}", f"{pass_p99:.1f}"]])}
""")


if __name__ == "__main__":
    main()
