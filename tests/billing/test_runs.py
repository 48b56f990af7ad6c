"""Bill runs end to end: preview posts nothing, posting bills every item, re-running changes nothing, held
consumption is left out and reported, and billed once it is fixed; 公摊 sums exactly to the common total."""
from __future__ import annotations

from sqlalchemy import func, select

from central.billing.models import Bill, BillLine, BillRun, Posting
from central.billing.runs import get_run
from tests.billing.conftest import dec, local, post_run, read, setup_march


async def counts(engine) -> tuple[int, int, int, object]:
    async with engine.connect() as conn:
        bills = await conn.scalar(select(func.count()).select_from(Bill))
        lines = await conn.scalar(select(func.count()).select_from(BillLine))
        postings = await conn.scalar(select(func.count()).select_from(Posting))
        total = await conn.scalar(select(func.sum(Posting.amount)))
    return bills, lines, postings, total


async def bill_lines(engine, unit_id: int) -> list[tuple[str, object, object]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(BillLine.rule_name, BillLine.amount, BillLine.rule_version)
                                   .where(BillLine.unit_id == unit_id).order_by(BillLine.id))).all()
    return [(name, amount, version) for name, amount, version in rows]


async def test_preview_posts_nothing_and_post_bills_every_item(engine, demo):
    await setup_march(engine, demo)
    run_id, preview = await post_run(engine, "2025-03", "preview")
    assert (preview.bills, preview.lines, preview.total) == (3, 12, dec("2140.48"))
    assert await counts(engine) == (0, 0, 0, None)
    async with engine.connect() as conn:
        assert (await get_run(conn, run_id))["status"] == "previewed"

    _, posted = await post_run(engine, "2025-03")
    assert (posted.bills, posted.lines, posted.total) == (preview.bills, preview.lines, preview.total)
    assert await bill_lines(engine, demo["3-1201"]) == [
        ("property", dec("250.00"), "2025"), ("water", dec("103.50"), "2025"), ("parking", dec("300.00"), "2025"),
        ("garbage", dec("15.00"), "2025"), ("lobby-power", dec("436.31"), "2025")]
    bills, lines, postings, total = await counts(engine)
    assert (bills, lines, postings, dec(str(total)).quantize(dec("0.01"))) == (3, 12, 12, dec("2140.48"))


async def test_shared_allocation_sums_exactly_to_the_common_total(engine, demo):
    await setup_march(engine, demo)
    await post_run(engine, "2025-03")
    async with engine.connect() as conn:
        rows = (await conn.execute(select(BillLine.unit_id, BillLine.amount, BillLine.source)
                                   .where(BillLine.rule_name == "lobby-power"))).all()
    # 1234.5 kWh x 0.85 = 1049.325 -> 1049.33; by area 100 : 80.5 : 60 the floors give 1049.32 and the cent
    # left goes to the largest remainder (3-1203's .787)
    shares = {unit_id: amount for unit_id, amount, _ in rows}
    assert shares == {demo["3-1201"]: dec("436.31"), demo["3-1202"]: dec("351.23"), demo["3-1203"]: dec("261.79")}
    assert sum(shares.values()) == dec("1049.33") == dec(rows[0].source["common_total"])


async def test_rerunning_a_posted_period_changes_nothing(engine, demo):
    await setup_march(engine, demo)
    await post_run(engine, "2025-03")
    before = await counts(engine)
    run_id, again = await post_run(engine, "2025-03")
    assert (again.bills, again.lines, again.total, again.already_billed) == (0, 0, dec(0), 12)
    assert await counts(engine) == before
    async with engine.connect() as conn:
        assert (await get_run(conn, run_id))["status"] == "posted"


async def test_held_consumption_is_not_billed_and_is_billed_once_fixed(engine, demo):
    made = await setup_march(engine, demo)
    _, outcome = await post_run(engine, "2025-03")
    held = [h for h in outcome.held if h["fee_item"] == "water"]
    assert [(h["unit"], h["unit_id"]) for h in held] == [("3-1203", demo["3-1203"])]
    assert "no reading at the period end" in held[0]["reason"]
    assert "water" not in [name for name, _, _ in await bill_lines(engine, demo["3-1203"])]
    async with engine.connect() as conn:
        run = (await conn.execute(select(BillRun).order_by(BillRun.id.desc()))).first()
    assert run.held_count == 1 and run.held[0]["fee_item"] == "water"

    async with engine.begin() as conn:
        await read(conn, made["points"]["3-1203"], local(2025, 4, 1), "18")
    _, fixed = await post_run(engine, "2025-03")
    assert (fixed.bills, fixed.lines, fixed.total, fixed.held) == (1, 1, dec("27.60"), [])
    async with engine.connect() as conn:
        seqs = (await conn.execute(select(Bill.seq, Bill.total).where(Bill.unit_id == demo["3-1203"])
                                   .order_by(Bill.seq))).all()
    assert [(s, t) for s, t in seqs] == [(1, dec("426.79")), (2, dec("27.60"))]
    _, again = await post_run(engine, "2025-03")
    assert (again.bills, again.lines) == (0, 0)


async def test_worker_processes_bill_exactly_what_the_run_bills_in_process(engine, demo):
    from central.billing import runs
    from tests.billing.conftest import OFFICE

    await setup_march(engine, demo)
    _, alone = await runs.execute(engine, OFFICE, "demo", "2025-03", "preview", parallel=False)
    _, spread = await runs.execute(engine, OFFICE, "demo", "2025-03", "post", parallel=True)
    assert (spread.bills, spread.lines, spread.total, spread.units) == (alone.bills, alone.lines, alone.total, 3)
    assert sorted(h["unit"] or "" for h in spread.held) == sorted(h["unit"] or "" for h in alone.held)
    assert set(spread.timings) >= {"load and meter", "price", "write"}
    assert await bill_lines(engine, demo["3-1201"]) == [
        ("property", dec("250.00"), "2025"), ("water", dec("103.50"), "2025"), ("parking", dec("300.00"), "2025"),
        ("garbage", dec("15.00"), "2025"), ("lobby-power", dec("436.31"), "2025")]
