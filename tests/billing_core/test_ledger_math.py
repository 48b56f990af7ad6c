"""Ledger arithmetic: balance, receivable and received, prepayment settlement oldest first, late fees."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.billing.ledger_math import (
    LedgerError, OpenCharge, Posting, PostingKind, arrears, auto_settle, balance, balances_by_unit, late_fee,
    receivable, received)

U = "B3-1202"


def p(id: str, kind: str, amount: str, reverses: str | None = None, unit: str = U) -> Posting:
    return Posting(id, PostingKind(kind), D(amount), unit, bill_line=f"line-{id}", reverses=reverses)


def test_worked_account():
    # charge 100 + late fee 5 - discount 10 = 95 receivable; paid 120, 20 refunded = 100 received;
    # balance 100 + 5 - 10 - 120 + 20 = -5.00, a credit of 5.00 = receivable - received
    postings = [p("1", "charge", "100.00"), p("2", "late_fee", "5.00"), p("3", "discount", "-10.00"),
                p("4", "payment", "-120.00"), p("5", "refund", "20.00")]
    assert (receivable(postings), received(postings), arrears(postings), balance(postings)) == (
        D("95.00"), D("100.00"), D("-5.00"), D("-5.00"))


def test_reversals_take_the_side_of_what_they_reverse():
    # A bounced payment is reversed: received drops back, arrears rise. A wrong charge is reversed: receivable drops.
    postings = [p("1", "charge", "80.00"), p("2", "payment", "-80.00"), p("3", "reversal", "80.00", reverses="2"),
                p("4", "charge", "15.00"), p("5", "reversal", "-15.00", reverses="4")]
    assert (receivable(postings), received(postings), arrears(postings)) == (D("80.00"), D("0.00"), D("80.00"))


def test_prepayment_counts_as_received():
    postings = [p("1", "prepayment", "-300.00"), p("2", "charge", "120.00")]
    assert (received(postings), arrears(postings), balance(postings)) == (D("300.00"), D("-180.00"), D("-180.00"))


def test_balances_by_unit():
    postings = [p("1", "charge", "10.00"), p("2", "charge", "7.00", unit="B3-1203"), p("3", "payment", "-4.00")]
    assert balances_by_unit(postings) == {U: D("6.00"), "B3-1203": D("7.00")}


@pytest.mark.parametrize(("kind", "amount", "reverses", "message"), [
    ("payment", "10.00", None, "must be negative"),
    ("charge", "-10.00", None, "must be positive"),
    ("refund", "-1.00", None, "must be positive"),
    ("discount", "1.00", None, "must be negative"),
    ("charge", "0.00", None, "non-zero"),
    ("charge", "1.005", None, "whole number of cents"),
    ("reversal", "1.00", None, "must name the posting"),
    ("charge", "1.00", "9", "only a reversal"),
])
def test_posting_rules(kind, amount, reverses, message):
    with pytest.raises(LedgerError, match=message):
        p("x", kind, amount, reverses=reverses)


def test_posting_kind_as_text_and_no_floats():
    assert Posting("1", "charge", D(1), U).kind is PostingKind.CHARGE
    with pytest.raises(TypeError):
        Posting("1", PostingKind.CHARGE, 1.5, U)


@pytest.mark.parametrize(("postings", "message"), [
    ([p("1", "charge", "5.00"), p("2", "reversal", "-5.00", reverses="7")], "not in the list"),
    ([p("1", "charge", "5.00"), p("2", "reversal", "-4.00", reverses="1")], "must be exactly -5.00"),
    ([p("1", "charge", "5.00"), p("2", "reversal", "-5.00", reverses="1"), p("3", "reversal", "-5.00", reverses="1")],
     "reversed twice"),
    ([p("1", "charge", "5.00"), p("2", "reversal", "-5.00", reverses="1"), p("3", "reversal", "5.00", reverses="2")],
     "another reversal"),
    ([p("1", "charge", "5.00"), p("1", "charge", "6.00")], "appears twice"),
])
def test_ledger_rules(postings, message):
    with pytest.raises(LedgerError, match=message):
        arrears(postings)


cents = st.integers(min_value=1, max_value=10**8).map(lambda c: D(c).scaleb(-2))
SIGNED = {"charge": 1, "late_fee": 1, "refund": 1, "payment": -1, "prepayment": -1, "discount": -1}
steps = st.lists(st.tuples(st.sampled_from([*SIGNED, "reversal"]), cents, st.integers(min_value=0)), max_size=60)


def build(plan) -> list[Posting]:
    postings: list[Posting] = []
    reversible: list[Posting] = []
    for index, (kind, amount, pick) in enumerate(plan):
        if kind == "reversal":
            if not reversible:
                continue
            target = reversible.pop(pick % len(reversible))
            postings.append(Posting(str(index), PostingKind.REVERSAL, -target.amount, target.unit,
                                    reverses=target.id))
        else:
            posting = Posting(str(index), PostingKind(kind), SIGNED[kind] * amount, "U" + str(pick % 3))
            postings.append(posting)
            reversible.append(posting)
    return postings


@given(steps)
def test_invariants_after_any_sequence(plan):
    postings = build(plan)
    total = D("0.00")
    for posting in postings:
        total += posting.amount
    assert balance(postings) == total
    assert receivable(postings) - received(postings) == arrears(postings) == balance(postings)
    assert sum(balances_by_unit(postings).values(), D("0.00")) == balance(postings)


@given(steps)
def test_reversing_everything_returns_to_zero(plan):
    postings = [x for x in build(plan) if x.kind is not PostingKind.REVERSAL]
    undone = postings + [Posting(f"r{x.id}", PostingKind.REVERSAL, -x.amount, x.unit, reverses=x.id)
                         for x in postings]
    assert balance(undone) == receivable(undone) == received(undone) == arrears(undone) == 0


def charges() -> list[OpenCharge]:
    return [OpenCharge("A", date(2024, 3, 1), D("100.00")), OpenCharge("B", date(2024, 1, 1), D("120.00")),
            OpenCharge("C", date(2024, 2, 1), D("80.00"))]


def test_auto_settle_oldest_first_with_the_last_part_paid():
    # 250.00: B (due January) 120.00, C (February) 80.00, then 50.00 of A (March); nothing left
    settled = auto_settle(D("250.00"), charges())
    assert settled.applied == (("B", D("120.00")), ("C", D("80.00")), ("A", D("50.00")))
    assert (settled.total_applied, settled.remaining) == (D("250.00"), D("0.00"))


def test_auto_settle_leaves_the_rest_as_prepayment():
    settled = auto_settle(D("500.00"), charges())
    assert [ref for ref, _ in settled.applied] == ["B", "C", "A"] and settled.remaining == D("200.00")


def test_auto_settle_same_due_date_by_ref_and_nothing_to_apply():
    same_day = [OpenCharge("Z", date(2024, 1, 1), D(5)), OpenCharge("M", date(2024, 1, 1), D(5))]
    assert auto_settle(D(6), same_day).applied == (("M", D(5)), ("Z", D(1)))
    assert auto_settle(D(0), same_day).applied == ()
    assert auto_settle(D(10), []).remaining == D(10)


def test_auto_settle_refuses_bad_input():
    with pytest.raises(LedgerError, match="non-negative"):
        auto_settle(D(-1), charges())
    with pytest.raises(LedgerError, match="leave settled charges out"):
        auto_settle(D(1), [OpenCharge("A", date(2024, 1, 1), D(0))])


@given(st.integers(min_value=0, max_value=10**6).map(lambda c: D(c).scaleb(-2)),
       st.lists(st.tuples(st.dates(), cents), max_size=20))
def test_auto_settle_conserves_money(prepayment, open_items):
    items = [OpenCharge(f"c{i}", due, owed) for i, (due, owed) in enumerate(open_items)]
    settled = auto_settle(prepayment, items)
    assert settled.total_applied + settled.remaining == prepayment
    owed = {item.ref: item.outstanding for item in items}
    assert all(0 < amount <= owed[ref] for ref, amount in settled.applied)
    assert all(amount == owed[ref] for ref, amount in settled.applied[:-1])
    assert settled.remaining == 0 or len(settled.applied) == len(items)


@pytest.mark.parametrize(("overdue", "days", "rate", "cap", "fee"), [
    ("1000.00", 30, "0.0005", None, "15.00"),  # 1000 x 0.0005 x 30
    ("1000.00", 30, "0.0005", "10.00", "10.00"),  # held to the cap
    ("1000.00", 30, "0.0005", "1000", "15.00"),  # cap not reached
    ("333.33", 7, "0.0005", None, "1.17"),  # 1.166655 -> 1.17
    ("10.00", 1, "0.0005", None, "0.01"),  # exactly half a cent rounds up
    ("1000.00", 0, "0.0005", None, "0.00"),
    ("0.00", 30, "0.0005", None, "0.00"),
    ("-5.00", 30, "0.0005", None, "0.00"),
    ("1000.00", 30, "0.0005", "0", "0.00"),
])
def test_late_fee(overdue, days, rate, cap, fee):
    result = late_fee(D(overdue), days, D(rate), None if cap is None else D(cap))
    assert result == D(fee) and result == result.quantize(D("0.01"))


def test_late_fee_cap_is_never_exceeded_and_refuses_bad_input():
    assert late_fee(D("99999.99"), 3650, D("0.003"), D("99999.99")) == D("99999.99")
    with pytest.raises(LedgerError, match="non-negative whole number of cents"):
        late_fee(D(1), 1, D("0.001"), D("0.001"))
    with pytest.raises(LedgerError, match="0.05% a day"):
        late_fee(D(1), 1, D("-0.001"))
    with pytest.raises(TypeError, match="days"):
        late_fee(D(1), 1.5, D("0.001"))
