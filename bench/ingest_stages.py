"""Central's ingest, stage by stage, in one process: what each stage costs per event now, and what a cheaper
way to do the same work would cost (the evidence behind the suggestions in docs/benchmarks.md).

    .venv/bin/python -m bench.ingest_stages [--quick] [--db sqlite,postgresql]

Batches are what the gateway publishes (500 card.read envelopes each, as Uplink._batches builds them); a commit
group is 10 batches (5,000 events), about what central groups per commit in bench.throughput. Stages:
  parse   central.ingest.parse.parse_uplink            vs  one pydantic pass: Batch-with-list[Envelope].model_validate_json
  rows    central.ingest.parse.event_row               (the alternatives below build their own tuples, included in their time)
  insert  SQLAlchemy insert().on_conflict_do_nothing   vs  SQLite: the driver's executemany with ready tuples
          with the list of row dicts (as Ingest does)      PostgreSQL: one INSERT … SELECT FROM unnest($1::text[], …)
Nothing here changes the product: the alternatives are written out in this file, for measurement only.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import datetime
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects import postgresql, sqlite

from bench import _common as c
from central.db import create_engine, migrate
from central.ingest.parse import event_row, parse_uplink
from central.models import Event
from estatelink import wire
from tests.support.services import create_pg_database, drop_pg_database

BATCH = 500
GROUP = 10


class _OnePassBatch(BaseModel):
    """The same rules as wire.Batch + wire.Envelope, validated from JSON in one pass."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[1] = 1
    estate: wire.EntityId
    gateway: wire.EntityId
    stream: str
    events: list[wire.Envelope] = Field(min_length=1)


def make_batches(count: int, first_seq: int = 1, gateway: str = "gate-1") -> list[bytes]:
    head = b'{"v":1,"estate":"demo","gateway":"%s","stream":"access","events":[' % gateway.encode()
    batches, seq = [], first_seq
    for _ in range(count):
        bodies = []
        for _ in range(BATCH):
            item = c.card_read(seq)
            bodies.append(orjson.dumps(wire.envelope_dict(
                estate="demo", gateway=gateway, seq=seq, device=item.device, kind=item.event.kind,
                data=dict(item.event.data), received_at=item.received_at)))
            seq += 1
        batches.append(head + b",".join(bodies) + b"]}")
    return batches


def timed(fn, reps: int) -> float:  # noqa: ANN001
    """Median seconds of `reps` calls."""
    times = []
    for _ in range(reps):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def us_per_event(seconds: float, events: int) -> float:
    return 1e6 * seconds / events


# --- stage: parse and rows -------------------------------------------------------------------------------

def parse_stages(reps: int) -> dict[str, float]:
    topic = wire.parse_topic("estate/demo/gw/gate-1/up/access")
    batches = make_batches(GROUP)
    n = BATCH * GROUP
    parsed = [parse_uplink(topic, b) for b in batches]
    assert all(len(p.events) == BATCH and not p.rejected for p in parsed)
    now = wire.utc_now()

    def one_pass() -> None:
        for payload in batches:
            batch = _OnePassBatch.model_validate_json(payload)
            assert (batch.estate, batch.gateway) == (topic.estate, topic.gateway)

    one_pass()
    return {
        "parse": us_per_event(timed(lambda: [parse_uplink(topic, b) for b in batches], reps), n),
        "parse_one_pass": us_per_event(timed(one_pass, reps), n),
        "rows": us_per_event(timed(lambda: [event_row(e, now) for p in parsed for e in p.events], reps), n),
    }


# --- stage: insert -----------------------------------------------------------------------------------------

_COLUMNS = ("uuid", "estate", "gateway", "seq", "device", "kind", "device_time", "received_at", "stored_at", "data")


def _sqlite_time(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME storage format, so the API reads these rows back unchanged
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if value is not None else None


async def insert_stages(url: str, reps: int) -> dict[str, float]:
    await migrate(url)
    engine = create_engine(url)
    is_pg = engine.dialect.name == "postgresql"
    dialect = postgresql if is_pg else sqlite
    statement = dialect.insert(Event.__table__).on_conflict_do_nothing(index_elements=["estate", "gateway", "seq"])
    n = BATCH * GROUP
    results: dict[str, list[float]] = {"insert": [], "insert_raw": [], "insert_cpu": [], "insert_raw_cpu": []}
    try:
        for rep in range(reps):
            for method in ("insert", "insert_raw"):
                gateway = f"gw-{method.replace('_', '-')}-{rep}"  # fresh sequences: no conflicts skip work
                events = [e for b in make_batches(GROUP, gateway=gateway)
                          for e in parse_uplink(wire.parse_topic(f"estate/demo/gw/{gateway}/up/access"), b).events]
                now = wire.utc_now()
                began, cpu = time.perf_counter(), time.process_time()
                if method == "insert":
                    rows = [event_row(e, now) for e in events]
                    began, cpu = time.perf_counter(), time.process_time()  # event_row is its own stage
                    async with engine.begin() as conn:
                        await conn.execute(statement, rows)
                elif is_pg:
                    cols = list(zip(*[(str(e.id), e.estate, e.gateway, e.seq, e.device, e.kind, e.device_time,
                                       e.received_at, now, orjson.dumps(e.data).decode()) for e in events]))
                    async with engine.begin() as conn:
                        raw = (await conn.get_raw_connection()).driver_connection
                        await raw.execute(
                            f"INSERT INTO events ({', '.join(_COLUMNS)}) SELECT u, e, g, s, dv, k, dt, ra, sa, d::jsonb "
                            "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], "
                            "$7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::text[]) "
                            "AS t(u, e, g, s, dv, k, dt, ra, sa, d) ON CONFLICT (estate, gateway, seq) DO NOTHING",
                            *[list(col) for col in cols])
                else:
                    stored = _sqlite_time(now)
                    tuples = [(str(e.id), e.estate, e.gateway, e.seq, e.device, e.kind, _sqlite_time(e.device_time),
                               _sqlite_time(e.received_at), stored, orjson.dumps(e.data).decode()) for e in events]
                    async with engine.begin() as conn:
                        await conn.exec_driver_sql(
                            f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
                            "ON CONFLICT (estate, gateway, seq) DO NOTHING", tuples)
                results[method].append(time.perf_counter() - began)
                results[f"{method}_cpu"].append(time.process_time() - cpu)
        async with engine.connect() as conn:
            stored = (await conn.exec_driver_sql("SELECT count(*) FROM events")).scalar()
        assert stored == 2 * reps * n, f"stored {stored} rows, expected {2 * reps * n}"
    finally:
        await engine.dispose()
    return {k: us_per_event(statistics.median(v), n) for k, v in results.items()}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_stages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--db", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    reps = 3 if args.quick else 9
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    info, date = c.machine(), c.utc_date()
    print(f"{date}\n{c.machine_line(info)}\ningest stages: {BATCH}-event batches, {GROUP} per commit, "
          f"median of {reps} repetitions")
    parse = parse_stages(reps)
    print(f"  parse_uplink {parse['parse']:.1f} µs/event; one-pass validate_json {parse['parse_one_pass']:.1f}; "
          f"event_row {parse['rows']:.1f}")
    inserts: dict[str, dict[str, float]] = {}
    with c.workdir("ingest-stages") as work:
        for db in dbs:
            url = f"sqlite:///{work / 'central.sqlite'}" if db == "sqlite" else create_pg_database()
            try:
                inserts[db] = asyncio.run(insert_stages(url, reps))
            finally:
                if db == "postgresql":
                    drop_pg_database(url)
            i = inserts[db]
            print(f"  {db}: SQLAlchemy insert {i['insert']:.1f} µs/event wall ({i['insert_cpu']:.1f} CPU in this "
                  f"process); {'unnest' if db == 'postgresql' else 'driver executemany'} {i['insert_raw']:.1f} wall "
                  f"({i['insert_raw_cpu']:.1f} CPU; tuples built inside)")

    rows = []
    for db in dbs:
        i = inserts[db]
        # serial now: parse, rows, then the insert's wall time (central waits for it before the next group)
        now_total = parse["parse"] + parse["rows"] + i["insert"]
        alt_total = parse["parse_one_pass"] + i["insert_raw"]
        rows.append([db, f"{parse['parse']:.1f} → {parse['parse_one_pass']:.1f}", f"{parse['rows']:.1f} → (in insert)",
                     f"{i['insert']:.1f} ({i['insert_cpu']:.1f}) → {i['insert_raw']:.1f} ({i['insert_raw_cpu']:.1f})",
                     f"{now_total:.1f} → {alt_total:.1f}", f"{1e6 / now_total:,.0f} → {1e6 / alt_total:,.0f}",
                     f"{now_total / alt_total:.1f}×"])
        print(f"  {db}: serial ingest {now_total:.1f} → {alt_total:.1f} µs/event "
              f"(ceiling {1e6 / now_total:,.0f} → {1e6 / alt_total:,.0f} events/s)")
    if args.no_doc:
        return 0
    body = [
        "## Central ingest, stage by stage (in-process)",
        "",
        f"- Command: `.venv/bin/python -m bench.ingest_stages{' --quick' if args.quick else ''}`",
        f"- Date: {date}",
        f"- Machine: {c.machine_line(info)}",
        f"- {BATCH}-event batches, {GROUP} per commit ({BATCH * GROUP:,} events); median of {reps} repetitions.",
        "",
        "Method: the stages of `Ingest._process`/`_commit` timed alone on real batches, next to a cheaper way to "
        "do the same work (written out in `bench/ingest_stages.py`, not in the product): parse with one "
        "`model_validate_json` of a batch model whose `events` is `list[Envelope]` instead of `orjson.loads` + "
        "`Batch.model_validate` + `TypeAdapter(list[Envelope]).validate_python`; insert with the driver directly "
        "(SQLite: `exec_driver_sql` executemany with ready tuples; PostgreSQL: one `INSERT … SELECT FROM unnest(…)` "
        "with one array per column) instead of SQLAlchemy's `insert().on_conflict_do_nothing()` with a list of "
        "row dicts. Figures are µs per event, now → alternative; for the insert, wall time with the CPU time "
        "of the benchmark process in brackets.",
        "",
        c.table(["database", "parse µs/event", "event_row µs/event",
                 "insert + commit µs/event, wall (CPU of this process)", "serial total µs/event",
                 "ceiling events/s", "speed-up"], rows),
        "",
        "Central does these stages one after the other for each group (it awaits the insert before it parses the "
        "next group), so the ceiling is 1 / (parse + rows + insert wall time): what one central process could "
        "ingest if nothing else cost anything (the MQTT receive, acks and the API add a little on top). On "
        "SQLite the insert runs in aiosqlite's thread of the same process, and wall ≈ CPU; on PostgreSQL the "
        "difference between wall and CPU is time spent in the server (four indexes, jsonb, WAL and its fsync), "
        "which a pipelined ingest could overlap with parsing the next group.",
    ]
    c.write_section("ingest_stages", "\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
