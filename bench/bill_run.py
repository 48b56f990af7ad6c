"""A month's bill run for a large estate, from meter readings to posted bills, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.bill_run [--quick] [--units N] [--db sqlite,postgresql] [--runs 3] [--write-doc]

The estate: N units (100,000; 10,000 with --quick) in 100 buildings, each with a built area, a water and an
electricity meter point read at both ends of the month, a parking space for every third unit, and one common
electricity meter (lobbies and lifts) shared by area. Fee items: property fee by area, water and electricity on
annual tiers, monthly parking, and the shared meter (公摊): five items, about 5.3 lines per unit. The setup
writes these rows directly in bulk (it is not what is measured). Measured: `runs.execute` as `estatelink central
bill-run` runs it, preview and post, each on a copy of the same freshly set-up database (median of --runs), and
the no-op re-run of a posted period. The time is split into stages by the run's own progress callbacks.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert

from bench import _common as c
from central.auth.principal import SYSTEM
from central.billing import items
from central.billing.runs import execute
from central.db import create_engine, migrate
from central.metering.models import Meter, MeterPoint, MeterReading
from central.registry.models import Building, CommonArea, Estate, ParkingSpace, Unit
from tests.support.services import PG_ADMIN_DSN, create_pg_database, drop_pg_database

PERIOD = "2026-10"
START = datetime(2026, 10, 1, tzinfo=timezone(timedelta(hours=8)))
END = datetime(2026, 11, 1, tzinfo=timezone(timedelta(hours=8)))
BUILDINGS = 100
CHUNK = 10_000
TIERS = {
    "water": {"unit": "m³", "tiers": [{"start": "0", "price": "3.45"}, {"start": "180", "price": "4.83"},
                                     {"start": "260", "price": "5.83"}]},
    "electricity": {"unit": "kWh", "tiers": [{"start": "0", "price": "0.4883"}, {"start": "2760", "price": "0.5383"},
                                            {"start": "4800", "price": "0.7883"}]},
}


async def _bulk(conn, model, rows) -> None:
    for start in range(0, len(rows), CHUNK):
        await conn.execute(insert(model), rows[start:start + CHUNK])


def _point(point_id: int, kind: str, now: datetime, unit_id: int | None = None,
           area_id: int | None = None) -> dict:
    water = kind == "water"
    return {"id": point_id, "estate": "bench", "kind": kind, "unit_id": unit_id, "common_area_id": area_id,
            "name": f"{kind[0].upper()}-{point_id}", "register_limit": Decimal("99999.99" if water else "999999.9"),
            "resolution": Decimal("0.01" if water else "0.1"), "max_per_day": Decimal(5 if water else 2000),
            "estimate_periods": 0, "leak_min_flow_per_hour": None, "leak_nights": None, "created_at": now}


def _meter_and_readings(point: dict, start: Decimal, used: Decimal, now: datetime) -> tuple[dict, list[dict]]:
    meter = {"id": point["id"], "estate": "bench", "meter_point_id": point["id"], "serial": f"S{point['id']}",
             "model": "", "installed_at": datetime(2026, 1, 1, tzinfo=UTC), "removed_at": None,
             "first_reading": Decimal(0), "final_reading": None, "gateway": None, "device": None}
    reads = [{"estate": "bench", "meter_point_id": point["id"], "meter_id": point["id"],
              "meter_serial": meter["serial"], "at": at.astimezone(UTC), "value": value, "source": "manual",
              "flags": [], "note": "", "event_gateway": None, "event_seq": None, "created_at": now}
             for at, value in ((START, start), (END, start + used))]
    return meter, reads


async def populate(url: str, units: int) -> dict[str, int]:
    """The estate, written in bulk: units, meter points, meters, two readings each, parking, fee items."""
    now = datetime.now(UTC)
    engine = create_engine(url)
    rows: dict[str, list[dict]] = {"units": [], "points": [], "meters": [], "readings": [], "parking": []}
    for i in range(1, units + 1):
        building, index = (i - 1) % BUILDINGS + 1, (i - 1) // BUILDINGS
        rows["units"].append({"id": i, "estate": "bench", "building_id": building, "floor": index // 20 + 1,
                              "number": f"{index // 20 + 1}{index % 20 + 1:02d}", "layout": "",
                              "built_area": Decimal(6000 + i * 37 % 9000).scaleb(-2), "usable_area": None,
                              "use": "residential", "status": "occupied"})
        for kind, point_id, start, used in (
                ("water", 2 * i - 1, Decimal(i % 5000).scaleb(-1), Decimal(500 + i * 13 % 2000).scaleb(-2)),
                ("electricity", 2 * i, Decimal(i % 9000), Decimal(1000 + i * 7 % 3000).scaleb(-1))):
            point = _point(point_id, kind, now, unit_id=i)
            meter, reads = _meter_and_readings(point, start, used, now)
            rows["points"].append(point)
            rows["meters"].append(meter)
            rows["readings"] += reads
        if i % 3 == 0:
            rows["parking"].append({"estate": "bench", "code": f"P{i}", "kind": "owned", "unit_id": i})
    common = _point(2 * units + 1, "electricity", now, area_id=1)
    meter, reads = _meter_and_readings(common, Decimal(1000), Decimal(25000), now)
    rows["points"].append(common)
    rows["meters"].append(meter)
    rows["readings"] += reads
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(Estate).values(code="bench", name="Bench Gardens", address="",
                                                     timezone="Asia/Shanghai", created_at=now))
            await _bulk(conn, Building, [{"id": b, "estate": "bench", "code": str(b), "name": "", "floors": 60}
                                         for b in range(1, BUILDINGS + 1)])
            await conn.execute(insert(CommonArea).values(id=1, estate="bench", name="Lobbies and lifts", note=""))
            for model, key in ((Unit, "units"), (MeterPoint, "points"), (Meter, "meters"),
                               (MeterReading, "readings"), (ParkingSpace, "parking")):
                await _bulk(conn, model, rows[key])
            for code, kind, parameters, meter_kind in (
                    ("property", "area", {"rate": "2.50"}, None),
                    ("water", "usage_tiered", TIERS["water"], "water"),
                    ("electricity", "usage_tiered", TIERS["electricity"], "electricity"),
                    ("parking", "parking_monthly", {"monthly_fee": "300.00"}, None),
                    ("lifts", "shared_allocation", {"meter_point_ids": [common["id"]], "unit_price": "0.85"}, None)):
                item = await items.create_item(conn, SYSTEM, "bench", items.ItemCreate(
                    code=code, name=code.title(), kind=kind, meter_kind=meter_kind))
                await items.create_rule(conn, SYSTEM, item["id"], items.RuleCreate(
                    version="2026", effective_from=datetime(2026, 1, 1).date(), parameters=parameters))
    finally:
        await engine.dispose()
    return {k: len(v) for k, v in rows.items()}



STAGES = [("units, items, assignments, parking", "load 2"), ("common meter", "load 3"),
          ("meter readings → consumption", "load 5"), ("usage billed this year", "load 6"),
          ("公摊 allocation", "price 0"), ("pricing every unit (workers: load, meter, price, write)", "price end"),
          ("writing bills, lines, postings", "post end"), ("stored estimates, audit, run record", "end")]
WORK = [("loading units and meters, metering (CPU s)", "load and meter"), ("公摊 allocation (CPU s)", "allocate"),
        ("pricing (CPU s)", "price"), ("writing bills, lines, postings (wall s)", "write")]


def _cpu() -> float:
    """CPU seconds of this process and of its ended children (the run's worker processes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


async def timed_run(url: str, mode: str, parallel: bool | None = None) -> dict[str, float]:
    """Seconds for one run and for each stage; also the run's counts."""
    engine = create_engine(url)
    marks: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        marks[f"{stage} {done}"] = now
        if done >= total:
            marks[f"{stage} end"] = now

    start, cpu = time.perf_counter(), _cpu()
    try:
        _, outcome = await execute(engine, SYSTEM, "bench", PERIOD, mode, progress, parallel=parallel)
    finally:
        await engine.dispose()
    marks["end"], cpu = time.perf_counter(), _cpu() - cpu
    split, last = {}, start
    for label, mark in STAGES:
        if mark in marks:
            split[label] = marks[mark] - last
            last = marks[mark]
    return {"total": marks["end"] - start, "cpu": cpu, "stages": split, "work": outcome.timings,
            "bills": outcome.bills, "lines": outcome.lines,
            "amount": outcome.total, "held": len(outcome.held), "already": outcome.already_billed}


class Copies:
    """Fresh copies of the set-up database: a file copy for SQLite, CREATE DATABASE ... TEMPLATE for PostgreSQL."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind, self.workdir, self.made = kind, workdir, []
        self.base = f"sqlite:///{workdir / 'base.sqlite'}" if kind == "sqlite" else create_pg_database()

    def copy(self) -> str:
        n = len(self.made)
        if self.kind == "sqlite":
            path = self.workdir / f"copy{n}.sqlite"
            shutil.copyfile(c.sqlite_path(self.base), path)
            if Path(c.sqlite_path(self.base) + "-wal").exists():
                shutil.copyfile(c.sqlite_path(self.base) + "-wal", str(path) + "-wal")
            url = f"sqlite:///{path}"
        else:
            url = self.base + f"_c{n}"
            c_name, base_name = url.rsplit("/", 1)[1], self.base.rsplit("/", 1)[1]
            asyncio.run(_pg(f'CREATE DATABASE "{c_name}" TEMPLATE "{base_name}"'))
        self.made.append(url)
        return url

    def drop(self, url: str) -> None:
        if self.kind == "sqlite":
            Path(c.sqlite_path(url)).unlink(missing_ok=True)
            for suffix in ("-wal", "-shm"):
                Path(c.sqlite_path(url) + suffix).unlink(missing_ok=True)
        else:
            drop_pg_database(url)

    def close(self) -> None:
        if self.kind == "postgresql":
            drop_pg_database(self.base)


async def _pg(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def bench_db(kind: str, units: int, runs: int, workdir: Path, parallel: bool | None) -> dict:
    copies = Copies(kind, workdir)
    try:
        asyncio.run(migrate(copies.base))
        began = time.perf_counter()
        counts = asyncio.run(populate(copies.base, units))
        setup_s = time.perf_counter() - began
        print(f"{kind}: set up {counts} in {setup_s:.1f} s", file=sys.stderr)
        results: dict[str, list[dict]] = {"preview": [], "post": [], "rerun": []}
        for i in range(runs):
            url = copies.copy()
            results["preview"].append(asyncio.run(timed_run(url, "preview", parallel)))
            load = os.getloadavg()[0]
            results["post"].append({**asyncio.run(timed_run(url, "post", parallel)), "load": load})
            if i == 0:
                results["rerun"].append(asyncio.run(timed_run(url, "post", parallel)))
            copies.drop(url)
            print(f"{kind} run {i + 1}: preview {results['preview'][-1]['total']:.1f} s, post "
                  f"{results['post'][-1]['total']:.1f} s (load {load:.2f})", file=sys.stderr)
        return {"setup_s": setup_s, "counts": counts, **results}
    finally:
        copies.close()


def _median_run(items: list[dict]) -> dict:
    return sorted(items, key=lambda r: r["total"])[len(items) // 2]


def report(units: int, found: dict[str, dict], machine: str) -> str:
    lines = [(f"Bill run of one month for {units:,} units (property fee, water and electricity on annual tiers, "
              f"parking for a third, one common meter shared by area); {machine}."), ""]
    rows = []
    for kind, result in found.items():
        post, preview, rerun = _median_run(result["post"]), _median_run(result["preview"]), result["rerun"][0]
        rows.append([kind, f"{preview['total']:.1f} s ({preview['cpu']:.1f})", f"{post['total']:.1f} s ({post['cpu']:.1f})",
                     f"{rerun['total']:.1f} s", f"{post['bills']:,}", f"{post['lines']:,}", f"{post['amount']:,}",
                     len(result["post"])])
    lines.append(c.table(["database", "preview (CPU s)", "post (CPU s)", "re-run (posts nothing)", "bills", "lines",
                          "total", "runs"], rows))
    lines += ["", ("CPU s: what the run's processes used, its worker processes included (SQLite works inside them; "
                   "PostgreSQL's server is not counted). The machine is shared: wall time includes waiting for a CPU.")]
    lines += ["", "Posts, each with the 1-minute load average as it started: " + "; ".join(
        f"{kind} " + ", ".join(f"{r['total']:.1f} s (load {r['load']:.2f})" for r in result["post"])
        for kind, result in found.items()) + "."]
    lines += ["", "Where the post's time goes (the median run), seconds:", ""]
    stage_rows = []
    for label, _ in STAGES:
        seen = [_median_run(r["post"])["stages"].get(label) for r in found.values()]
        if any(s is not None for s in seen):  # a run in worker processes meters inside the pricing stage
            stage_rows.append([label] + [f"{s or 0:.2f}" for s in seen])
    lines.append(c.table(["stage", *found], stage_rows))
    lines += ["", "The work inside those stages, summed over the worker processes when there are any:", ""]
    work_rows = [[label] + [f"{_median_run(r['post'])['work'].get(key, 0):.2f}" for r in found.values()]
                 for label, key in WORK]
    lines.append(c.table(["work", *found], work_rows))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 units")
    parser.add_argument("--units", type=int, help="units (default 100,000; 10,000 with --quick)")
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--in-process", action="store_true", help="no worker processes, however many units")
    parser.add_argument("--write-doc", action="store_true", help="also write the section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    units = args.units or (10_000 if args.quick else 100_000)
    machine = c.machine_line(c.machine())
    found = {}
    with c.workdir("bill-run") as workdir:
        for kind in args.db.split(","):
            found[kind] = bench_db(kind, units, args.runs, workdir, False if args.in_process else None)
    text = report(units, found, machine + ("; in one process" if args.in_process else ""))
    print(text)
    if args.write_doc:
        c.write_section("bill_run", f"## Bill run\n\nMeasured {c.utc_date()} with `bench/bill_run.py`.\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

