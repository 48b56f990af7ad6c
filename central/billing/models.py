"""Billing's tables: fee items and their rule versions, assignments, runs, bills and lines, the ledger, payments.

Postings, bills, bill lines and payments are immutable (database triggers refuse UPDATE and DELETE, like the
audit log): a mistake is corrected by a reversal posting, never by editing. A rule version may change only
until a bill line names it. Money is Numeric(14,2), quantities Numeric(16,4), unit prices Numeric(18,6).

Bills and lines hold no foreign key to the few rows every one of them names (the estate, the run, the fee
item, the rule version): on PostgreSQL each such key share-locks that one row for every line inserted, which
serialises the writers of a large run. Nothing deletes those rows: items are deactivated, used versions are
frozen by trigger. A line names its bill without a key too (checking it doubled PostgreSQL's time to write a
run's lines): both are written in one transaction and neither can be deleted.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, Numeric, String,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column

from central.models import Base, Id, JsonColumn

Money = Numeric(14, 2)
Quantity = Numeric(16, 4)
UnitPrice = Numeric(18, 6)
Time = DateTime(timezone=True)
FEE_KINDS = ("area", "usage_tiered", "parking_monthly", "parking_temporary", "fixed", "shared_allocation")
POSTING_KINDS = ("charge", "payment", "late_fee", "discount", "refund", "reversal", "prepayment")


def _estate() -> Mapped[str]:
    return mapped_column(String(64), ForeignKey("estates.code"))


class FeeItem(Base):
    __tablename__ = "fee_items"
    __table_args__ = (UniqueConstraint("estate", "code", name="uq_fee_items_estate_code"),
                      CheckConstraint("scope IN ('all', 'assigned')", name="ck_fee_items_scope"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate()
    code: Mapped[str] = mapped_column(String(32))
    """Names the rule on every line it prices (RuleRef name)."""
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(24))
    meter_kind: Mapped[str | None] = mapped_column(String(16))
    """usage_tiered only: which unit meter points it bills (water, electricity, gas)."""
    scope: Mapped[str] = mapped_column(String(8))
    """all: every unit it can price; assigned: only units with an assignment."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Time)


class FeeRule(Base):
    """A version of an item's tariff, in force from effective_from until the next version's."""

    __tablename__ = "fee_rules"
    __table_args__ = (UniqueConstraint("fee_item_id", "version", name="uq_fee_rules_item_version"),
                      UniqueConstraint("fee_item_id", "effective_from", name="uq_fee_rules_item_from"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate()
    fee_item_id: Mapped[int] = mapped_column(ForeignKey("fee_items.id"))
    version: Mapped[str] = mapped_column(String(32))
    effective_from: Mapped[date] = mapped_column(Date)
    parameters: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
    """Per kind (central/billing/params.py); decimals are strings."""
    note: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(Time)


class FeeAssignment(Base):
    __tablename__ = "fee_assignments"
    __table_args__ = (UniqueConstraint("fee_item_id", "unit_id", name="uq_fee_assignments_item_unit"),
                      Index("ix_fee_assignments_unit", "unit_id"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate()
    fee_item_id: Mapped[int] = mapped_column(ForeignKey("fee_items.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    household_size: Mapped[int | None] = mapped_column(Integer)
    """Members of the household, for tier boundaries that widen per extra member."""
    created_at: Mapped[datetime] = mapped_column(Time)


class BillingPolicy(Base):
    """Per estate: when bills fall due and how late fees accrue; defaults apply without a row."""

    __tablename__ = "billing_policies"

    estate: Mapped[str] = mapped_column(String(64), ForeignKey("estates.code"), primary_key=True)
    due_months: Mapped[int] = mapped_column(Integer)
    """A bill is due on the last day of the n-th month after its period (1: March is due 30 April)."""
    late_fee_daily_rate: Mapped[Decimal] = mapped_column(Numeric(8, 6))
    late_fee_cap_ratio: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    """A bill's late fees stop at this fraction of its charges (1: never more than the principal)."""
    late_fee_grace_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(Time)


class ReceiptSequence(Base):
    __tablename__ = "receipt_sequences"

    estate: Mapped[str] = mapped_column(String(64), ForeignKey("estates.code"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class BillRun(Base):
    __tablename__ = "bill_runs"
    __table_args__ = (Index("ix_bill_runs_estate_period", "estate", "period"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate()
    period: Mapped[str] = mapped_column(String(7))
    mode: Mapped[str] = mapped_column(String(8))
    """preview or post."""
    status: Mapped[str] = mapped_column(String(12))
    """running, previewed, posted or failed."""
    actor: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(Time)
    finished_at: Mapped[datetime | None] = mapped_column(Time)
    units: Mapped[int] = mapped_column(Integer, default=0)
    bills: Mapped[int] = mapped_column(Integer, default=0)
    lines: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    already_billed: Mapped[int] = mapped_column(Integer, default=0)
    """(unit, fee item) pairs of the period billed by an earlier run and left alone."""
    held_count: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[list[Any]] = mapped_column(JsonColumn)
    """What could not be priced and why (the first 1,000)."""
    settled: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    """Of the new charges, how much prepayments already held settle."""
    error: Mapped[str] = mapped_column(String(1024), default="")


class Bill(Base):
    __tablename__ = "bills"
    __table_args__ = (UniqueConstraint("estate", "period", "unit_id", "seq", name="uq_bills_period_unit_seq"),
                      Index("ix_bills_unit_period", "unit_id", "period"),
                      Index("ix_bills_estate_period", "estate", "period"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    period: Mapped[str] = mapped_column(String(7))
    seq: Mapped[int] = mapped_column(Integer)
    """1 for the period's first bill of the unit; a later run or a one-off charge adds the next."""
    origin: Mapped[str] = mapped_column(String(8))
    """run or charge (a one-off charge at the desk)."""
    run_id: Mapped[int | None] = mapped_column(Id)
    issued_at: Mapped[datetime] = mapped_column(Time)
    due_date: Mapped[date] = mapped_column(Date)
    total: Mapped[Decimal] = mapped_column(Money)


class BillLine(Base):
    __tablename__ = "bill_lines"
    __table_args__ = (
        Index("uq_bill_lines_run_key", "estate", "period", "unit_id", "fee_item_id", "line_no", unique=True,
              sqlite_where=text("origin = 'run'"), postgresql_where=text("origin = 'run'")),
        Index("ix_bill_lines_bill", "bill_id"),
        Index("ix_bill_lines_rule", "rule_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    bill_id: Mapped[int] = mapped_column(Id)
    estate: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(Id)
    period: Mapped[str] = mapped_column(String(7))
    origin: Mapped[str] = mapped_column(String(8))
    fee_item_id: Mapped[int] = mapped_column(Id)
    line_no: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(160))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit: Mapped[str] = mapped_column(String(16))
    unit_price: Mapped[Decimal] = mapped_column(UnitPrice)
    amount: Mapped[Decimal] = mapped_column(Money)
    rule_id: Mapped[int] = mapped_column(Id)
    rule_name: Mapped[str] = mapped_column(String(32))
    rule_version: Mapped[str] = mapped_column(String(32))
    source: Mapped[dict[str, Any] | None] = mapped_column(JsonColumn)
    """What the quantity came from: meter points and readings, parking spaces, the common meter's share."""


class Payment(Base):
    """Money in (payment, prepayment) or out (refund), with its receipt number."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("provider", "provider_payment_id", name="uq_payments_provider_id"),
                      UniqueConstraint("estate", "receipt_no", name="uq_payments_receipt"),
                      UniqueConstraint("estate", "client_key", name="uq_payments_client_key"),
                      Index("ix_payments_estate_received", "estate", "received_at"),
                      Index("ix_payments_unit", "unit_id"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = _estate()
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    purpose: Mapped[str] = mapped_column(String(12))
    method: Mapped[str] = mapped_column(String(12))
    amount: Mapped[Decimal] = mapped_column(Money)
    receipt_no: Mapped[str] = mapped_column(String(48))
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_payment_id: Mapped[str | None] = mapped_column(String(128))
    raw: Mapped[dict[str, Any] | None] = mapped_column(JsonColumn)
    """The provider's notification as received."""
    client_key: Mapped[str | None] = mapped_column(String(64))
    """The desk's idempotency key: the same key twice is one payment."""
    bill_id: Mapped[int | None] = mapped_column(ForeignKey("bills.id"))
    received_at: Mapped[datetime] = mapped_column(Time)
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(256), default="")


class Posting(Base):
    """One signed ledger entry on a unit (ledger_math's sign convention: positive is owed)."""

    __tablename__ = "postings"
    __table_args__ = (Index("ix_postings_unit", "unit_id", "id"),
                      Index("ix_postings_estate_period", "estate", "period"),
                      Index("ix_postings_bill_line", "bill_line_id"),
                      # partial: most postings reverse nothing and have no key, and a run writes 400,000 of them
                      Index("uq_postings_reverses", "reverses_id", unique=True,
                            sqlite_where=text("reverses_id IS NOT NULL"),
                            postgresql_where=text("reverses_id IS NOT NULL")),
                      Index("uq_postings_key", "key", unique=True, sqlite_where=text("key IS NOT NULL"),
                            postgresql_where=text("key IS NOT NULL")),
                      CheckConstraint(f"kind IN ({', '.join(repr(k) for k in POSTING_KINDS)})",
                                      name="ck_postings_kind"),
                      CheckConstraint("side IN ('billed', 'received')", name="ck_postings_side"),
                      CheckConstraint("amount <> 0", name="ck_postings_amount"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    estate: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    period: Mapped[str] = mapped_column(String(7))
    """The bill's period for charges; otherwise the estate month it was posted in."""
    kind: Mapped[str] = mapped_column(String(12))
    side: Mapped[str] = mapped_column(String(8))
    """billed or received: the kind's side, a reversal's target's side (ledger_math's receivable/received)."""
    amount: Mapped[Decimal] = mapped_column(Money)
    due_date: Mapped[date | None] = mapped_column(Date)
    """Charges and late fees: when they fall due (settlement is oldest due first)."""
    bill_id: Mapped[int | None] = mapped_column(Id)
    bill_line_id: Mapped[int | None] = mapped_column(Id)
    payment_id: Mapped[int | None] = mapped_column(Id)
    reverses_id: Mapped[int | None] = mapped_column(Id)
    key: Mapped[str | None] = mapped_column(String(128))
    """Idempotency key of postings a job makes (late_fee:{bill}:{day})."""
    created_at: Mapped[datetime] = mapped_column(Time)
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(256), default="")


class WebhookNonce(Base):
    __tablename__ = "webhook_nonces"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(Time, index=True)
