"""Bill runs: price a period (preview: nothing is written but the run's record), or post it (bills, lines and
charge postings), idempotently (posting.py says how), in this process or, for a large estate, in worker
processes (parallel.py). Each run is recorded in bill_runs with its counts, totals and what was held.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.auth.audit import record_change
from central.auth.principal import Principal
from central.billing.errors import NotFound
from central.billing.models import BillRun
from central.billing.parallel import run_in_workers, unit_count, workers_for
from central.billing.posting import Outcome, run_units
from central.billing.pricing import ZERO
from central.metering import points as metering_points
from central.metering import service as metering_service
from central.metering.common import estate_zone, month_period
from central.metering.errors import Conflict as MeteringConflict
from central.registry.common import month_bounds, plain
from estatelink import wire

Progress = Callable[[str, int, int], None]


async def start_run(conn: AsyncConnection, actor: Principal, estate: str, period: str, mode: str) -> int:
    """Record a run as running; returns its id."""
    month_bounds(period, "period")
    stmt = insert(BillRun).values(estate=estate, period=period, mode=mode, status="running", actor=actor.username,
                                  started_at=wire.utc_now(), units=0, bills=0, lines=0, total=ZERO,
                                  already_billed=0, held_count=0, held=[], settled=ZERO, error="")
    return (await conn.execute(stmt.returning(BillRun.id))).scalar_one()


async def finish_run(conn: AsyncConnection, run_id: int, status: str, outcome: Outcome | None,
                     error: str = "") -> None:
    """Record how a run ended."""
    values = outcome.values() if outcome else {}
    await conn.execute(update(BillRun).where(BillRun.id == run_id).values(
        status=status, finished_at=wire.utc_now(), error=error[:1024], **values))


async def get_run(conn: AsyncConnection, run_id: int) -> dict[str, Any]:
    """A run's record."""
    row = (await conn.execute(select(BillRun).where(BillRun.id == run_id))).first()
    if row is None:
        raise NotFound(f"no bill run with id {run_id}")
    return plain(row)


async def list_runs(conn: AsyncConnection, estate: str, period: str | None = None) -> list[dict[str, Any]]:
    """The estate's runs, newest first, without their held lists."""
    stmt = select(BillRun).where(BillRun.estate == estate).order_by(BillRun.id.desc()).limit(200)
    if period is not None:
        stmt = stmt.where(BillRun.period == period)
    return [plain(row, hide=("held",)) for row in (await conn.execute(stmt)).all()]


async def _store_estimates(conn: AsyncConnection, actor: Principal, window: Any, points: list[int]) -> None:
    for point_id in points:
        point = await metering_points.point_row(conn, point_id)
        try:
            await metering_service.store_estimate(conn, actor, point, window)
        except MeteringConflict:
            pass  # stored meanwhile, or the end was read after all: the next period trues up either way


async def _run(engine: AsyncEngine, actor: Principal, run_id: int, estate: str, period: str, mode: str,
               progress: Progress | None, parallel: bool | None) -> Outcome:
    began = time.perf_counter()
    workers = workers_for(await unit_count(engine, estate), engine.dialect.name) if parallel is not False else 0
    if parallel and not workers:
        workers = 2
    if workers:
        outcome = await run_in_workers(engine, actor, run_id, estate, period, mode, workers, progress)
    else:
        outcome = await run_units(engine, actor, run_id, estate, period, mode, progress=progress)
    outcome.timings["run"] = time.perf_counter() - began
    if mode == "post":
        async with engine.begin() as conn:
            zone = await estate_zone(conn, estate)
            await _store_estimates(conn, actor, month_period(period, zone), outcome.estimates)
            await record_change(conn, actor, "bill_run.post", "bill_run", run_id, estate, None,
                                {"period": period, **outcome.values(), "held": outcome.held[:20]})
    return outcome


async def execute(engine: AsyncEngine, actor: Principal, estate: str, period: str, mode: str,
                  progress: Progress | None = None, run_id: int | None = None,
                  parallel: bool | None = None) -> tuple[int, Outcome]:
    """Run a preview or a post from start to finish, recording the run; returns (run id, outcome).

    `parallel`: None lets the estate's size and database decide (parallel.workers_for); True always uses worker
    processes, False never."""
    if run_id is None:
        async with engine.begin() as conn:
            run_id = await start_run(conn, actor, estate, period, mode)
    try:
        outcome = await _run(engine, actor, run_id, estate, period, mode, progress, parallel)
    except BaseException as exc:
        async with engine.begin() as conn:
            await finish_run(conn, run_id, "failed", None, f"{type(exc).__name__}: {exc}")
        raise
    async with engine.begin() as conn:
        await finish_run(conn, run_id, "previewed" if mode == "preview" else "posted", outcome)
    return run_id, outcome

