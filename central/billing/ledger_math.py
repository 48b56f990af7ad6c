"""Ledger arithmetic over postings: balances, receivable and received, prepayment settlement and late fees.

Sign convention: a positive amount is owed by the resident, a negative one is in their favour.

- charge, late_fee, refund (money paid back to the resident) are positive;
- payment, prepayment, discount are negative;
- a reversal is the exact negation of the one posting it names in `reverses`, which must not itself be a reversal
  nor be reversed twice.

Receivable is what was billed net: charges + late fees + discounts (negative) and their reversals. Received is the
money taken net: -(payments + prepayments + refunds) and their reversals. Every posting falls on exactly one side,
so receivable - received == arrears == balance (negative arrears is a credit). Amounts are whole cents.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from central.billing.pricing import ZERO, PricingError, decimal_arg, is_cents, to_cents


class LedgerError(PricingError):
    """A posting or a list of postings breaks a ledger rule; the message says which and how to fix it."""


class PostingKind(StrEnum):
    """What a posting records."""

    CHARGE = "charge"
    PAYMENT = "payment"
    LATE_FEE = "late_fee"
    DISCOUNT = "discount"
    REFUND = "refund"
    REVERSAL = "reversal"
    PREPAYMENT = "prepayment"


_SIGN = {PostingKind.CHARGE: 1, PostingKind.LATE_FEE: 1, PostingKind.REFUND: 1,
         PostingKind.PAYMENT: -1, PostingKind.PREPAYMENT: -1, PostingKind.DISCOUNT: -1}
_BILLED = frozenset({PostingKind.CHARGE, PostingKind.LATE_FEE, PostingKind.DISCOUNT})


@dataclass(frozen=True, slots=True)
class Posting:
    """One signed entry on a unit's account; `bill_line` refers to the bill line it settles or bills."""

    id: str
    kind: PostingKind
    amount: Decimal
    unit: str
    bill_line: str | None = None
    reverses: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PostingKind(self.kind))
        amount = decimal_arg(self.amount, f"posting {self.id} amount")
        if not is_cents(amount) or amount == 0:
            raise LedgerError(f"posting {self.id}: amount {amount} must be a non-zero whole number of cents")
        if self.kind is PostingKind.REVERSAL:
            if not self.reverses:
                raise LedgerError(f"posting {self.id}: a reversal must name the posting it reverses in `reverses`")
        elif self.reverses is not None:
            raise LedgerError(f"posting {self.id}: only a reversal may set `reverses`; use kind='reversal'")
        elif (amount > 0) != (_SIGN[self.kind] > 0):
            sign = "positive" if _SIGN[self.kind] > 0 else "negative"
            raise LedgerError(f"posting {self.id}: a {self.kind} must be {sign}, got {amount}")


def balance(postings: Iterable[Posting]) -> Decimal:
    """What the resident owes: the sum of all amounts (negative is a credit)."""
    return sum((posting.amount for posting in postings), ZERO)


def balances_by_unit(postings: Iterable[Posting]) -> dict[str, Decimal]:
    """The balance of each unit named in the postings."""
    result: dict[str, Decimal] = {}
    for posting in postings:
        result[posting.unit] = result.get(posting.unit, ZERO) + posting.amount
    return result


def effective_kinds(postings: Sequence[Posting]) -> list[PostingKind]:
    """Each posting's kind, with a reversal taking the kind it reverses; checks the reversal rules."""
    by_id: dict[str, Posting] = {}
    for posting in postings:
        if posting.id in by_id:
            raise LedgerError(f"posting id {posting.id} appears twice: ids must be unique within an account")
        by_id[posting.id] = posting
    reversed_ids: set[str] = set()
    kinds = []
    for posting in postings:
        if posting.kind is not PostingKind.REVERSAL:
            kinds.append(posting.kind)
            continue
        target = by_id.get(posting.reverses or "")
        if target is None:
            raise LedgerError(f"reversal {posting.id} names {posting.reverses}, which is not in the list: "
                              "pass the account's whole history")
        if target.kind is PostingKind.REVERSAL:
            raise LedgerError(f"reversal {posting.id} reverses another reversal: post the original entry again")
        if posting.amount != -target.amount:
            raise LedgerError(f"reversal {posting.id} is {posting.amount} but must be exactly {-target.amount}")
        if target.id in reversed_ids:
            raise LedgerError(f"posting {target.id} is reversed twice (again by {posting.id})")
        reversed_ids.add(target.id)
        kinds.append(target.kind)
    return kinds


def receivable(postings: Sequence[Posting]) -> Decimal:
    """Billed net: charges, late fees and discounts, with their reversals."""
    kinds = effective_kinds(postings)
    return sum((p.amount for p, kind in zip(postings, kinds) if kind in _BILLED), ZERO)


def received(postings: Sequence[Posting]) -> Decimal:
    """Money taken net: payments and prepayments less refunds, with their reversals."""
    kinds = effective_kinds(postings)
    return -sum((p.amount for p, kind in zip(postings, kinds) if kind not in _BILLED), ZERO)


def arrears(postings: Sequence[Posting]) -> Decimal:
    """Receivable less received; equal to the balance by construction (negative is a credit)."""
    return receivable(postings) - received(postings)


@dataclass(frozen=True, slots=True)
class OpenCharge:
    """An unpaid (or part-paid) bill line: its reference, due date and amount still owed."""

    ref: str
    due: date
    outstanding: Decimal


@dataclass(frozen=True, slots=True)
class Settlement:
    """How a prepayment was applied: (charge ref, amount) in order, and what is left of it."""

    applied: tuple[tuple[str, Decimal], ...]
    remaining: Decimal

    @property
    def total_applied(self) -> Decimal:
        """The sum applied to charges."""
        return sum((amount for _, amount in self.applied), ZERO)


def auto_settle(prepayment_balance: Decimal, open_charges: Iterable[OpenCharge]) -> Settlement:
    """Apply a prepayment to open charges oldest due date first (ties by ref); the last may be part-paid."""
    left = decimal_arg(prepayment_balance, "prepayment_balance")
    if left < 0 or not is_cents(left):
        raise LedgerError(f"prepayment_balance {left} must be a non-negative whole number of cents "
                          "(the credit held, as a positive amount)")
    applied = []
    for charge in sorted(open_charges, key=lambda c: (c.due, c.ref)):
        owed = decimal_arg(charge.outstanding, f"outstanding of {charge.ref}")
        if owed <= 0 or not is_cents(owed):
            raise LedgerError(f"open charge {charge.ref}: outstanding {owed} must be positive whole cents; "
                              "leave settled charges out")
        if left == 0:
            break
        amount = min(owed, left)
        applied.append((charge.ref, amount))
        left -= amount
    return Settlement(tuple(applied), left)


def late_fee(amount_overdue: Decimal, days: int, daily_rate: Decimal, cap: Decimal | None = None) -> Decimal:
    """Simple daily late fee: overdue x rate x days, rounded half-up to the cent, then held to `cap`."""
    overdue, rate = decimal_arg(amount_overdue, "amount_overdue"), decimal_arg(daily_rate, "daily_rate")
    if rate < 0:
        raise LedgerError(f"daily_rate {rate} must not be negative, e.g. Decimal('0.0005') for 0.05% a day")
    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError(f"days must be a whole number of days (int), not {type(days).__name__}")
    if cap is not None and (decimal_arg(cap, "cap") < 0 or not is_cents(cap)):
        raise LedgerError(f"cap {cap} must be a non-negative whole number of cents; pass None for no cap")
    if overdue <= 0 or days <= 0:
        return ZERO
    fee = to_cents(overdue * rate * days)
    return fee if cap is None else min(fee, to_cents(cap))
