"""Bill runs in the background with their progress, and the monthly and daily schedule (APScheduler).

The schedule is off unless ESTATELINK_BILL_RUN_DAY (1..28) is set: on that day of every month, at
ESTATELINK_BILL_RUN_HOUR (default 2) in ESTATELINK_BILLING_TZ (default Asia/Shanghai), every estate with an
active fee item posts the previous month's run and queues its bill notices; every day at
ESTATELINK_LATE_FEE_HOUR (default 3) late fees are assessed, then reminders and dunning follow
(central/billing/notices.py). With several central processes on PostgreSQL, an advisory lock lets one of them
run each job; the runs' idempotency keys (and the notices' dedup keys) make a second one harmless anyway.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from central.auth.principal import SYSTEM, Principal
from central.billing import late_fees, notices, runs
from central.billing.errors import Conflict
from central.billing.models import FeeItem, Posting
from central.keys import ENGINE
from central.metering.common import estate_zone
from central.registry.common import require_estate

log = logging.getLogger("central.billing")
LOCK_KEY = 0x6269_6C6C  # "bill": the PostgreSQL advisory lock of the scheduled jobs


@dataclass(slots=True)
class RunProgress:
    stage: str = "starting"
    done: int = 0
    total: int = 0


class BillRunner:
    """Starts runs as tasks, reports their progress while they run, and cancels them when central stops."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.progress: dict[int, RunProgress] = {}
        self.keys: dict[int, tuple[str, str, str]] = {}

    async def start(self, actor: Principal, estate: str, period: str, mode: str) -> int:
        """Record the run and start it; Conflict if this process is running the same one."""
        if (estate, period, mode) in self.keys.values():
            raise Conflict(f"a {mode} run of {estate} {period} is running; watch its progress")
        async with self.engine.begin() as conn:
            await require_estate(conn, estate)
            run_id = await runs.start_run(conn, actor, estate, period, mode)
        progress = self.progress[run_id] = RunProgress()

        def tick(stage: str, done: int, total: int) -> None:
            progress.stage, progress.done, progress.total = stage, done, total

        self.keys[run_id] = (estate, period, mode)
        self.tasks[run_id] = asyncio.create_task(self._run(actor, estate, period, mode, run_id, tick),
                                                 name=f"bill-run-{run_id}")
        return run_id

    async def _run(self, actor: Principal, estate: str, period: str, mode: str, run_id: int, tick: Any) -> None:
        try:
            await runs.execute(self.engine, actor, estate, period, mode, tick, run_id)
            if mode == "post":
                await post_notices(self.engine, actor, estate, period, tick)
        except Exception:
            log.exception("bill run %s (%s %s %s) failed", run_id, mode, estate, period)
        finally:
            self.tasks.pop(run_id, None)
            self.progress.pop(run_id, None)
            self.keys.pop(run_id, None)

    async def wait(self, run_id: int) -> None:
        """Until the run ends; a caller that goes away does not stop it."""
        task = self.tasks.get(run_id)
        if task is not None:
            await asyncio.shield(task)

    def progress_of(self, run_id: int) -> dict[str, Any] | None:
        """Stage, done and total of a running run; None once it has ended."""
        found = self.progress.get(run_id)
        return None if found is None else {"stage": found.stage, "done": found.done, "total": found.total}

    async def close(self) -> None:
        """Cancel running runs (they are recorded as failed; running them again finishes them)."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


RUNNER = web.AppKey("billing_runner", BillRunner)
SCHEDULER = web.AppKey("billing_scheduler", object)
"""The running AsyncIOScheduler, or None when the schedule is off."""


async def post_notices(engine: AsyncEngine, actor: Principal, estate: str, period: str,
                       tick: Any = None) -> dict[str, int] | None:
    """After a post: queue the period's bill notices and reminders (a step of its own: the run stays posted if it
    fails, and the daily job catches up the bills not yet due); the counts, or None when it failed."""
    try:
        summary = await notices.notify_bills(engine, actor, estate, period=period, progress=tick)
    except Exception:
        log.exception("bill notices of %s %s could not be queued; the daily job will try again", estate, period)
        return None
    log.info("bill notices of %s %s: %s", estate, period, summary)
    return summary


def describe_notices(summary: dict[str, int] | None) -> str:
    """One line for the cashier about a post's notice step."""
    if summary is None:
        return "notices: could not be queued (see the log); the daily job will queue them"
    return (f"notices: {summary['queued']} queued for {summary['bills']} bills ({summary['email']} e-mail, "
            f"{summary['sms']} SMS), {summary['reminders']} reminders, {summary['no_contact']} without an owner's "
            f"e-mail or phone, {summary['already']} queued before")


def previous_month(today: date) -> str:
    """YYYY-MM of the month before `today`'s."""
    return f"{today.year - 1}-12" if today.month == 1 else f"{today.year}-{today.month - 1:02d}"


@contextlib.asynccontextmanager
async def _leader(engine: AsyncEngine) -> AsyncIterator[bool]:
    if engine.dialect.name != "postgresql":
        yield True
        return
    async with engine.connect() as conn:
        got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}))
        try:
            yield got
        finally:
            if got:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            await conn.commit()


async def monthly_runs(runner: BillRunner) -> None:
    """Post the previous month for every estate with an active fee item."""
    async with _leader(runner.engine) as leader:
        if not leader:
            return
        async with runner.engine.connect() as conn:
            estates = list((await conn.scalars(select(FeeItem.estate).where(FeeItem.active.is_(True)).distinct())))
            periods = {e: previous_month(datetime.now(await estate_zone(conn, e)).date()) for e in estates}
        for estate, period in sorted(periods.items()):
            try:
                await runner.wait(await runner.start(SYSTEM, estate, period, "post"))
            except Conflict:
                log.warning("scheduled run of %s %s skipped: one is running", estate, period)


async def daily_late_fees(engine: AsyncEngine) -> None:
    """Assess today's late fees in every estate with postings."""
    async with _leader(engine) as leader:
        if not leader:
            return
        async with engine.connect() as conn:
            estates = sorted(await conn.scalars(select(Posting.estate).distinct()))
        for estate in estates:
            async with engine.begin() as conn:
                today = datetime.now(await estate_zone(conn, estate)).date()
                summary = await late_fees.assess(conn, SYSTEM, estate, today)
            log.info("late fees of %s on %s: %s bills, %s", estate, today, summary["bills"], summary["total"])
            await daily_notices(engine, estate, today)


async def daily_notices(engine: AsyncEngine, estate: str, today: date) -> None:
    """After the day's late fees: notices of bills not yet due that lack one, reminders of bills paid meanwhile
    cancelled, dunning; a failure is logged and leaves the other estates' jobs alone."""
    try:
        caught_up = await notices.notify_bills(engine, SYSTEM, estate, due_from=today)
        async with engine.begin() as conn:
            dunning = await notices.daily_dunning(conn, SYSTEM, estate, today)
    except Exception:
        log.exception("notices of %s on %s could not be queued", estate, today)
        return
    log.info("notices of %s on %s: bill notices %s; %s", estate, today, caught_up, dunning)


def _hour(name: str, default: int) -> int:
    value = int(os.environ.get(name, default))
    if not 0 <= value <= 23:
        raise ValueError(f"{name} must be an hour 0..23, got {value}")
    return value


async def billing_context(app: web.Application) -> AsyncIterator[None]:
    """central's cleanup context: the runner, and the schedule when ESTATELINK_BILL_RUN_DAY is set."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger

    runner = app[RUNNER] = BillRunner(app[ENGINE])
    scheduler = app[SCHEDULER] = None
    day = os.environ.get("ESTATELINK_BILL_RUN_DAY")
    if day:
        if not day.isdigit() or not 1 <= int(day) <= 28:
            raise ValueError(f"ESTATELINK_BILL_RUN_DAY must be a day 1..28 (every month has it), got {day!r}")
        zone = ZoneInfo(os.environ.get("ESTATELINK_BILLING_TZ", "Asia/Shanghai"))
        scheduler = AsyncIOScheduler(timezone=zone)
        scheduler.add_job(monthly_runs, CronTrigger(day=int(day), hour=_hour("ESTATELINK_BILL_RUN_HOUR", 2),
                                                    timezone=zone),
                          args=[runner], id="bill-runs", coalesce=True, max_instances=1, misfire_grace_time=6 * 3600)
        scheduler.add_job(daily_late_fees, CronTrigger(hour=_hour("ESTATELINK_LATE_FEE_HOUR", 3), timezone=zone),
                          args=[app[ENGINE]], id="late-fees", coalesce=True, max_instances=1,
                          misfire_grace_time=6 * 3600)
        scheduler.start()
        app[SCHEDULER] = scheduler
        log.info("bill runs scheduled on day %s of each month; late fees daily", day)
    yield
    if scheduler is not None:
        scheduler.shutdown(wait=False)
    await runner.close()
