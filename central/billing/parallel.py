"""A large estate's run in worker processes, one slice of units each.

Metering and pricing are pure Python: 200,000 meter points and 433,000 lines for 100,000 units, besides
writing about a million rows. From WORKERS_FROM units the run's own process loads the estate's units and common meters and
works out what the estate decides as a whole (the 公摊 shares); then worker processes, one per CPU, each take
slices of units by id, open their own database connection, and load, meter, price and write their slice with
the same code as an in-process run (posting.run_units), committing every chunk. The slices' outcomes are added
up in slice order (so what was held is listed in unit order, as in process). PostgreSQL takes the workers'
writes side by side. (Asked to run in workers on SQLite, they take turns to
write by a lock they share: SQLite's own busy wait sleeps between tries and would waste the hand-overs.)
"""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.auth.principal import Principal
from central.billing import context as run_context
from central.billing.context import Context
from central.billing.plan import Split, estate_plan
from central.billing.posting import Outcome, Shared, collection_paused, run_units
from central.db import create_engine
from central.registry.models import Unit

WORKERS_FROM = 20_000
"""Units from which a run meters and prices in worker processes (below, starting them costs more than they
save)."""
SLICES_PER_WORKER = 4
Progress = Callable[[str, int, int], None]


def workers_for(units: int, dialect: str) -> int:
    """How many worker processes a run of that many units uses; 0: none, the run's own process does it all.

    Only on PostgreSQL: SQLite has one writer, and writing is most of a large run there, so workers shorten
    nothing and add their start-up (measured at 100,000 units, load 6-7 on 2 CPUs: 17-18 s in process, 19-25 s
    in two workers; on PostgreSQL 18-22 s in workers, 22-24 s in process).
    """
    cpus = min(os.cpu_count() or 1, 4)
    return cpus if units >= WORKERS_FROM and cpus >= 2 and dialect == "postgresql" else 0


async def unit_count(engine: AsyncEngine, estate: str) -> int:
    """The estate's units."""
    async with engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(Unit).where(Unit.estate == estate)) or 0


_turn: Any = None
"""In a worker: the lock the workers take turns to write with (SQLite), or None."""


def _start_worker(turn: Any) -> None:
    global _turn
    _turn = turn


def run_slice(url: str, actor: Principal, run_id: int, estate: str, period: str, mode: str,
              span: tuple[int, int], shared: Shared) -> Outcome:
    """A worker's job: run the units lo <= id < hi on its own connection."""
    async def job() -> Outcome:
        engine = create_engine(url)
        try:
            return await run_units(engine, actor, run_id, estate, period, mode, units=span, shared=shared,
                                   turn=_turn)
        finally:
            await engine.dispose()
    return asyncio.run(job())


def _slices(context: Context, count: int) -> list[tuple[int, int]]:
    ids = [unit.id for unit in context.units]
    size = max(1, -(-len(ids) // count))
    return [(ids[start], ids[min(start + size, len(ids)) - 1] + 1) for start in range(0, len(ids), size)]


def _shared_for(context: Context, splits: dict[int, Split | None], span: tuple[int, int]) -> Shared:
    lo, hi = span
    return {item_id: (Split(split.total, split.whole, split.rate,
                            {u: share for u, share in split.parts.items() if lo <= u < hi}) if split else None,
                      context.common[item_id]) for item_id, split in splits.items()}


async def _numbered(index: int, job: Any) -> tuple[int, Outcome]:
    return index, await job


async def run_in_workers(engine: AsyncEngine, actor: Principal, run_id: int, estate: str, period: str, mode: str,
                         workers: int, progress: Progress | None = None) -> Outcome:
    """Run the period across `workers` processes; returns the slices' outcomes added up."""
    tick = progress or (lambda *_: None)
    with collection_paused():
        async with engine.connect() as conn:
            context = await run_context.load(conn, estate, period, progress, usage=False)
        allocating = time.process_time()
        held, splits = estate_plan(context)
    outcome = Outcome(held=[h.as_dict() for h in held], timings={"allocate": time.process_time() - allocating})
    tick("price", 0, len(context.units))
    url = engine.url.render_as_string(hide_password=False)
    loop = asyncio.get_running_loop()
    spawn = multiprocessing.get_context("spawn")
    turn = spawn.Lock() if engine.dialect.name == "sqlite" else None
    pool = ProcessPoolExecutor(workers, mp_context=spawn, initializer=_start_worker, initargs=(turn,))
    try:
        jobs = [_numbered(index, loop.run_in_executor(pool, run_slice, url, actor, run_id, estate, period, mode,
                                                      span, _shared_for(context, splits, span)))
                for index, span in enumerate(_slices(context, workers * SLICES_PER_WORKER))]
        slices: list[Outcome | None] = [None] * len(jobs)
        done = 0
        for job in asyncio.as_completed(jobs):
            index, slices[index] = await job
            done += slices[index].units
            tick("price", done, len(context.units))
        for finished in slices:  # in unit order, as a run in process lists what it held
            outcome.add(finished)
    finally:  # slices not started are dropped; a started one finishes its chunk (running again completes it)
        await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)
    return outcome
