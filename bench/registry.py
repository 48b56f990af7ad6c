"""The estate registry at scale: importing 100,000 units with their residents, and searching among them.

    .venv/bin/python -m bench.registry [--quick] [--db sqlite,postgresql] [--runs 3]

Import: a CSV of N units over 100 buildings, each unit with its owner (every 10th with an identity number),
goes through central.transfer.service.import_file exactly as `estatelink central import` runs it; the time is
split into reading the file, checking every row, and writing (rows, audit entries). A second import of the
same file (the no-op re-run) is timed too. Search: after the import (plus one vehicle for every third owner),
a central process answers GET /estates/demo/search?q=... for whole phone numbers, the last 4 digits of a phone,
and plates, one request at a time over HTTP; GET /health in the same run is the baseline (what any request
costs through aiohttp, auth excluded).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from pathlib import Path

import aiohttp
from cryptography.fernet import Fernet

from bench import _common as c
from central.auth.principal import SYSTEM
from central.db import create_engine, migrate
from central.registry import estates
from central.registry.identity import KEY_ENV
from central.transfer.service import import_file
from central.transfer.tables import write_csv
from tests.support.services import Central, Mosquitto, create_pg_database, drop_pg_database
from tests.transfer.files import UNIT_HEADERS, unit_rows

BUILDINGS = 100
PER_FLOOR = 20


def units_csv(count: int) -> bytes:
    return write_csv(UNIT_HEADERS, unit_rows(count, buildings=BUILDINGS, per_floor=PER_FLOOR))


def vehicles_csv(count: int) -> bytes:
    rows = [[f"粤B{i:05d}", f"139{i * 3:08d}", ""] for i in range(count // 3)]
    return write_csv(["plate", "owner_phone", "description"], rows)


async def prepare(url: str) -> None:
    await migrate(url)
    engine = create_engine(url)
    async with engine.begin() as conn:
        await estates.create_estate(conn, SYSTEM, estates.EstateCreate(code="demo", name="Bench Gardens"))
        for code in range(1, BUILDINGS + 1):
            await estates.create_building(conn, SYSTEM, "demo", estates.BuildingCreate(code=str(code), floors=60))
    await engine.dispose()


async def timed_import(url: str, data: bytes) -> dict[str, float]:
    """Seconds for the whole import and for each stage (read = until the first row is checked)."""
    engine = create_engine(url)
    marks: dict[str, float] = {}
    start = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        marks.setdefault(f"first {stage}", time.perf_counter())
        marks[f"last {stage}"] = time.perf_counter()

    report = await import_file(engine, SYSTEM, "demo", data, filename="units.csv", progress=progress)
    end = time.perf_counter()
    await engine.dispose()
    assert not report.problems, report.problems[:3]
    check_start = marks.get("first check units", end)
    check_end = marks.get("first write", marks.get("last check units", end))
    return {"total": end - start, "read": check_start - start, "check": check_end - check_start,
            "write": end - check_end, "created": sum(report.created.values())}


async def latencies(base: str, token: str, queries: list[str], path: str) -> list[float]:
    out = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        for q in queries:
            t0 = time.perf_counter()
            async with session.get(f"{base}{path}", params={"q": q} if q else None) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            out.append((time.perf_counter() - t0) * 1000)
    return out


def search_round(central: Central, count: int, rng: random.Random) -> dict[str, list[float]]:
    base, token = f"http://127.0.0.1:{central.port}/api/v1", central.token
    picks = [rng.randrange(count) for _ in range(300)]
    kinds = {
        "health (baseline)": ("/health", [""] * 300),
        "phone, whole": ("/estates/demo/search", [f"139{i:08d}" for i in picks]),
        "phone, last 4 digits": ("/estates/demo/search", [f"{i:08d}"[-4:] for i in picks]),
        "plate": ("/estates/demo/search", [f"粤B{(i // 3) % (count // 3):05d}" for i in picks]),
    }
    return {name: asyncio.run(latencies(base, token, queries, path)) for name, (path, queries) in kinds.items()}


def run_db(db: str, count: int, runs: int, work: Path) -> tuple[list[dict], dict[str, list[float]]]:
    imports, search = [], {}
    for run in range(runs):
        url = f"sqlite:///{work / f'{db}-{run}.sqlite'}" if db == "sqlite" else create_pg_database()
        try:
            asyncio.run(prepare(url))
            data = units_csv(count)
            first = asyncio.run(timed_import(url, data))
            again = asyncio.run(timed_import(url, data))
            first["rerun"] = again["total"]
            imports.append(first)
            print(f"{db} run {run + 1}: import {first['total']:.1f} s (read {first['read']:.1f}, check "
                  f"{first['check']:.1f}, write {first['write']:.1f}), re-run {again['total']:.1f} s", flush=True)
            if run == runs - 1:
                asyncio.run(_import_vehicles(url, count))
                search = _search(url, count, work)
        finally:
            if db == "postgresql":
                drop_pg_database(url)
    return imports, search


async def _import_vehicles(url: str, count: int) -> None:
    engine = create_engine(url)
    report = await import_file(engine, SYSTEM, "demo", vehicles_csv(count), filename="vehicles.csv")
    await engine.dispose()
    assert not report.problems, report.problems[:3]


def _search(url: str, count: int, work: Path) -> dict[str, list[float]]:
    broker = Mosquitto(work)
    broker.start()
    central = Central(work, url, f"mqtt://127.0.0.1:{broker.port}")
    central.start()
    try:
        rng = random.Random(7)
        rounds = [search_round(central, count, rng) for _ in range(3)]
    finally:
        central.stop()
        broker.stop()
    return {name: [r[name] for r in rounds] for name in rounds[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 units, one run, nothing recorded")
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault(KEY_ENV, Fernet.generate_key().decode())
    count, runs = (10_000, 1) if args.quick else (100_000, args.runs)
    info = c.machine()
    rows, search_rows = [], []
    with c.workdir("registry") as work:
        for db in args.db.split(","):
            imports, search = run_db(db, count, runs, work)
            med = {k: c.median([i[k] for i in imports]) for k in ("total", "read", "check", "write", "rerun")}
            rows.append([db, f"{count:,}", f"**{med['total']:.1f} s**",
                         " / ".join(f"{i['total']:.1f}" for i in imports), f"{med['read']:.1f}",
                         f"{med['check']:.1f}", f"{med['write']:.1f}", f"{med['rerun']:.1f} s",
                         f"{count * 3 / med['total']:,.0f}"])
            for name, per_round in search.items():
                p50 = c.median([c.percentile(r, 50) for r in per_round])
                p99 = c.median([c.percentile(r, 99) for r in per_round])
                search_rows.append([db, name, f"{p50:.1f}", f"**{p99:.1f}**" if "health" not in name else
                                    f"{p99:.1f}"])
    print(c.table(["db", "units", "import (median)", "runs", "read", "check", "write", "re-run", "records/s"], rows))
    print(c.table(["db", "query", "p50 ms", "p99 ms"], search_rows))
    if args.quick:
        return 0
    c.write_section("registry", f"""
## Registry: import of {count:,} units with residents, and search among them

`.venv/bin/python -m bench.registry` — {c.utc_date()}, {c.machine_line(info)}

A CSV of {count:,} units over {BUILDINGS} buildings, each with its owner (a resident and an occupancy: three
records a row, plus one audit entry per record), imported through the same function as
`estatelink central import`; {runs} runs on a fresh database each, median first. "re-run" imports the same
file again (nothing changes). Targets: import ≤ 60 s; search p99 ≤ 20 ms.

{c.table(["db", "units", "import (median)", "runs (s)", "read s", "check s", "write s", "re-run", "records/s"], rows)}

Search among the same {count:,} residents (and {count // 3:,} vehicles), through central's HTTP API with an
API token, one request at a time, 300 queries of each kind × 3 rounds (median of the rounds' percentiles);
`/health` is the cost of any request in the same run.

{c.table(["db", "query", "p50 ms", "p99 ms"], search_rows)}
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
