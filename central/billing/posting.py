"""Pricing and posting a run's units: all of an estate's, or the slice a worker process was given.

Idempotency: a run line's key is (estate, period, unit, fee item, line number), unique among run lines. Posting
skips every (unit, item) the period already billed, so re-running a posted period posts nothing; a run after a
held reading is fixed bills just what was held, as the unit's next bill of the period (seq 2, ...). Posting
commits every CHUNK units, so other writers (ingest on SQLite) are not locked out for a whole large run; a run
stopped half-way is finished by running it again.

A run keeps automatic garbage collection off while it works (`collection_paused`): it builds millions of small
objects that live until it ends and form no cycles, and the collector's passes over them again and again were a
third of a large run's CPU. Reference counting frees them as usual; the collector resumes when the run ends.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.auth.principal import Principal
from central.billing import context as run_context
from central.billing.bulk import copy_records, insert_with_ids, next_ids
from central.billing.context import Common, Context, Range
from central.billing.ledger import CHARGE_COLUMNS, balances, charge_records
from central.billing.ledger_math import OpenCharge, auto_settle
from central.billing.models import Bill, BillLine, Posting
from central.billing.plan import Priced, Split, estate_plan, price
from central.billing.pricing import ZERO
from estatelink import wire

CHUNK = 2000
HELD_KEPT = 1000
Progress = Callable[[str, int, int], None]
Shared = dict[int, tuple[Split | None, Common]]
"""Per shared item: the estate's split (the slice's shares only) and its common meters."""


@dataclass(slots=True)
class Outcome:
    """What a run priced and (when posting) wrote."""

    units: int = 0
    bills: int = 0
    lines: int = 0
    total: Decimal = ZERO
    already_billed: int = 0
    held: list[dict[str, Any]] = field(default_factory=list)
    settled: Decimal = ZERO
    estimates: list[int] = field(default_factory=list)
    """Meter points whose estimated end reading posting must store."""
    timings: dict[str, float] = field(default_factory=dict)

    def add(self, other: Outcome) -> None:
        """Count another slice's outcome in."""
        for name in ("units", "bills", "lines", "total", "already_billed", "settled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.held += other.held
        self.estimates += other.estimates
        for name, seconds in other.timings.items():
            self.timings[name] = self.timings.get(name, 0.0) + seconds

    def values(self) -> dict[str, Any]:
        """The bill_runs columns it fills."""
        return {"units": self.units, "bills": self.bills, "lines": self.lines, "total": self.total,
                "already_billed": self.already_billed, "held_count": len(self.held),
                "held": self.held[:HELD_KEPT], "settled": self.settled}


def _span(column: Any, units: Range) -> list[Any]:
    return [] if units is None else [column >= units[0], column < units[1]]


async def _billed_pairs(conn: AsyncConnection, estate: str, period: str, units: Range) -> set[tuple[int, int]]:
    stmt = (select(BillLine.unit_id, BillLine.fee_item_id).where(
        BillLine.estate == estate, BillLine.period == period, BillLine.origin == "run", BillLine.line_no == 1,
        *_span(BillLine.unit_id, units)))
    return {(unit_id, item_id) for unit_id, item_id in (await conn.execute(stmt)).all()}


async def _next_seq(conn: AsyncConnection, estate: str, period: str, units: Range) -> dict[int, int]:
    stmt = (select(Bill.unit_id, func.max(Bill.seq)).where(Bill.estate == estate, Bill.period == period,
                                                           *_span(Bill.unit_id, units)).group_by(Bill.unit_id))
    return {unit_id: seq + 1 for unit_id, seq in (await conn.execute(stmt)).all()}


_paused = [0, False]
"""Runs in this process inside collection_paused, and whether the collector was on before the first."""


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """Automatic garbage collection off until the last run of this process inside it ends."""
    if _paused[0] == 0:
        _paused[1] = gc.isenabled()
        gc.disable()
    _paused[0] += 1
    try:
        yield
    finally:
        _paused[0] -= 1
        if _paused[0] == 0 and _paused[1]:
            gc.enable()


def _tally(outcome: Outcome, priced: dict[int, list[Priced]],
           skipped: set[tuple[int, int]]) -> dict[int, tuple[list[Priced], Decimal]]:
    """Count the priced lines into the outcome; those not billed before, and their total, by unit."""
    fresh: dict[int, tuple[list[Priced], Decimal]] = {}
    total = outcome.total
    for unit_id, lines in priced.items():
        new = [p for p in lines if (unit_id, p.item_id) not in skipped] if skipped else lines
        if len(new) != len(lines):
            outcome.already_billed += len({p.item_id for p in lines}) - len({p.item_id for p in new})
        if new:
            bill = ZERO
            for p in new:
                bill += p.line.amount
            fresh[unit_id] = (new, bill)
            outcome.bills += 1
            outcome.lines += len(new)
            total += bill
    outcome.total = total
    return fresh


def _settled(credit: dict[int, Decimal], fresh: dict[int, tuple[list[Priced], Decimal]], due: Any) -> Decimal:
    """How much of the new charges the prepayments held by units in credit settle (ledger_math.auto_settle)."""
    settled = ZERO
    for unit_id in credit.keys() & fresh.keys():
        owed = [OpenCharge(f"{unit_id}:{p.item_id}:{p.line_no}", due, p.line.amount) for p in fresh[unit_id][0]]
        settled += auto_settle(-credit[unit_id], owed).total_applied
    return settled


LINE_COLUMNS = ["id", "bill_id", "estate", "unit_id", "period", "origin", "fee_item_id", "line_no", "label",
                "quantity", "unit", "unit_price", "amount", "rule_id", "rule_name", "rule_version", "source"]


async def _write_chunk(conn: AsyncConnection, actor: Principal, run_id: int, context: Context,
                       chunk: list[tuple[int, tuple[list[Priced], Decimal]]], seqs: dict[int, int],
                       checked: set[Decimal]) -> None:
    now, estate, period, due = wire.utc_now(), context.estate, context.period, context.due_date
    bills = [{"estate": estate, "unit_id": unit_id, "period": period, "seq": seqs.get(unit_id, 1), "origin": "run",
              "run_id": run_id, "issued_at": now, "due_date": due, "total": total}
             for unit_id, (_, total) in chunk]
    bill_ids = await insert_with_ids(conn, Bill, bills)
    line_ids = iter(await next_ids(conn, BillLine, sum(len(lines) for _, (lines, _) in chunk)))
    records, postings, username = [], [], actor.username
    for bill_id, (unit_id, (lines, _)) in zip(bill_ids, chunk):
        ids = []
        for p in lines:
            line_id, line = next(line_ids), p.line
            ids.append(line_id)
            records.append([line_id, bill_id, estate, unit_id, period, "run", p.item_id, p.line_no, line.label,
                            line.quantity, line.unit, line.unit_price, line.amount, p.rule_id, line.rule.name,
                            line.rule.version, p.source])
        postings += charge_records(estate, unit_id, period, due, bill_id, ids, [p.line.amount for p in lines],
                                   username, now, checked)
    await copy_records(conn, BillLine, LINE_COLUMNS, records)
    await copy_records(conn, Posting, CHARGE_COLUMNS, postings)


async def run_units(engine: AsyncEngine, actor: Principal, run_id: int, estate: str, period: str, mode: str, *,
                    units: Range = None, shared: Shared | None = None, progress: Progress | None = None,
                    turn: Any = None) -> Outcome:
    """Price the units (all, or ids lo <= id < hi with the estate's `shared` splits) and, when posting, write
    what the period did not bill before, holding the `turn` lock (if any) for each chunk; a preview writes
    nothing."""
    with collection_paused():
        return await _run_units(engine, actor, run_id, estate, period, mode, units, shared, progress, turn)


async def _run_units(engine: AsyncEngine, actor: Principal, run_id: int, estate: str, period: str, mode: str,
                     units: Range, shared: Shared | None, progress: Progress | None, turn: Any) -> Outcome:
    cpu = time.process_time()
    async with engine.connect() as conn:
        context = await run_context.load(conn, estate, period, progress, units=units)
        skipped, seqs = await _billed_pairs(conn, estate, period, units), await _next_seq(conn, estate, period, units)
        credit = await balances(conn, estate, units, only="credit")
    loaded_at = time.process_time()
    if shared is None:
        held, splits = estate_plan(context)
    else:
        held, splits = [], {item_id: split for item_id, (split, _) in shared.items()}
        context.common = {item_id: common for item_id, (_, common) in shared.items()}
    priced_at = time.process_time()
    plan = price(context, progress, splits)
    outcome = Outcome(units=len(context.units), held=[h.as_dict() for h in held + plan.held],
                      estimates=plan.estimates)
    fresh = _tally(outcome, plan.lines, skipped)
    outcome.settled = _settled(credit, fresh, context.due_date)
    outcome.timings = {"load and meter": loaded_at - cpu, "allocate": priced_at - loaded_at,
                       "price": time.process_time() - priced_at}
    if mode != "post":
        return outcome
    todo, writing, checked = list(fresh.items()), time.perf_counter(), set()
    if progress:
        progress("post", 0, len(todo))
    for start in range(0, len(todo), CHUNK):
        if turn is not None:
            await asyncio.to_thread(turn.acquire)
        try:
            async with engine.begin() as conn:
                await _write_chunk(conn, actor, run_id, context, todo[start:start + CHUNK], seqs, checked)
        finally:
            if turn is not None:
                turn.release()
        if progress:
            progress("post", min(start + CHUNK, len(todo)), len(todo))
    outcome.timings["write"] = time.perf_counter() - writing
    return outcome
