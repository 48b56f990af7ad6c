"""The schedule: off unless ESTATELINK_BILL_RUN_DAY is set; its monthly job posts the previous month of every
estate with an active fee item (once, however often it runs), its daily job assesses late fees."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from central.billing.models import Bill
from central.billing.runner import RUNNER, SCHEDULER, billing_context, daily_late_fees, monthly_runs, previous_month
from central.keys import ENGINE
from tests.billing.conftest import add_item


async def _context(engine) -> tuple[web.Application, object]:
    app = web.Application()
    app[ENGINE] = engine
    context = billing_context(app)
    await context.__anext__()
    return app, context


async def _close(context) -> None:
    try:
        await context.__anext__()
    except StopAsyncIteration:
        pass


async def test_no_schedule_unless_configured(engine, monkeypatch):
    monkeypatch.delenv("ESTATELINK_BILL_RUN_DAY", raising=False)
    app, context = await _context(engine)
    assert app[SCHEDULER] is None and app[RUNNER].tasks == {}
    await _close(context)


async def test_the_schedule_runs_on_the_configured_day(engine, monkeypatch):
    monkeypatch.setenv("ESTATELINK_BILL_RUN_DAY", "5")
    app, context = await _context(engine)
    try:
        jobs = {job.id: job for job in app[SCHEDULER].get_jobs()}
        assert set(jobs) == {"bill-runs", "late-fees"}
        when = jobs["bill-runs"].next_run_time
        assert (when.day, when.hour, str(when.tzinfo)) == (5, 2, "Asia/Shanghai")
        assert jobs["late-fees"].next_run_time.hour == 3
    finally:
        await _close(context)


async def test_the_monthly_job_posts_the_previous_month_once(engine, demo, monkeypatch):
    monkeypatch.delenv("ESTATELINK_BILL_RUN_DAY", raising=False)
    async with engine.begin() as conn:
        await add_item(conn, "property", "area", {"rate": "2.00"})
    app, context = await _context(engine)
    try:
        await monthly_runs(app[RUNNER])
        await monthly_runs(app[RUNNER])
        await daily_late_fees(engine)
    finally:
        await _close(context)
    period = previous_month(datetime.now(ZoneInfo("Asia/Shanghai")).date())
    async with engine.connect() as conn:
        bills = (await conn.execute(select(Bill.period, Bill.total).where(Bill.estate == "demo")
                                    .order_by(Bill.unit_id))).all()
    assert [tuple(b) for b in bills] == [(period, total) for total in (200, 161, 120)]
    assert previous_month(datetime(2026, 1, 5).date()) == "2025-12"
