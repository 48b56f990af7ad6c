"""Watermark: the highest contiguous settled sequence, the gaps above it, and how long a gap has stood."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from central.ingest.watermark import MAX_RANGES, Watermark


def test_in_order_sequences_move_the_watermark():
    mark = Watermark()
    assert mark.settle({1, 2, 3}, now=10.0) is True
    assert (mark.acked, mark.above, mark.gap_since) == (3, set(), None)
    assert mark.settle({4}, now=11.0) is True
    assert mark.acked == 4 and mark.missing_ranges() == []


def test_out_of_order_sequences_wait_for_the_gap_to_fill():
    mark = Watermark()
    assert mark.settle({3, 4}, now=10.0) is False
    assert mark.acked == 0 and mark.missing_ranges() == [(1, 2)] and mark.gap_since == 10.0
    assert mark.settle({1}, now=11.0) is True
    assert mark.acked == 1 and mark.missing_ranges() == [(2, 2)]
    assert mark.settle({2}, now=12.0) is True
    assert (mark.acked, mark.above, mark.missing_ranges(), mark.gap_since) == (4, set(), [], None)


def test_duplicates_change_nothing():
    mark = Watermark()
    mark.settle({1, 2}, now=1.0)
    assert mark.settle({1, 2}, now=2.0) is False
    assert mark.settle({2}, now=3.0) is False
    assert mark.acked == 2 and mark.above == set()
    mark.settle({5}, now=4.0)
    assert mark.settle({5}, now=5.0) is False and mark.missing_ranges() == [(3, 4)]
    assert mark.settle({2, 3}, now=6.0) is True and mark.acked == 3


def test_a_watermark_restored_from_the_database_ignores_what_it_already_holds():
    mark = Watermark(acked=41)
    assert mark.settle({3, 40, 41}, now=1.0) is False
    assert (mark.acked, mark.above, mark.gap_since) == (41, set(), None)
    assert mark.settle({42}, now=2.0) is True and mark.acked == 42


def test_missing_ranges_list_every_gap_lowest_first_up_to_the_cap():
    mark = Watermark()
    mark.settle({2, 5, 6, 9}, now=1.0)
    assert mark.missing_ranges() == [(1, 1), (3, 4), (7, 8)]
    mark.settle({1}, now=2.0)
    assert mark.acked == 2 and mark.missing_ranges() == [(3, 4), (7, 8)]

    many = Watermark()
    many.settle({3 * i for i in range(1, 31)}, now=1.0)           # 3, 6, ..., 90: 30 gaps of two
    ranges = many.missing_ranges()
    assert len(ranges) == MAX_RANGES
    assert ranges[:3] == [(1, 2), (4, 5), (7, 8)] and ranges[-1] == (3 * MAX_RANGES - 2, 3 * MAX_RANGES - 1)


def test_gap_since_is_when_the_current_gap_began_to_stand():
    mark = Watermark()
    mark.settle({3}, now=10.0)
    assert mark.gap_since == 10.0
    mark.settle({5}, now=20.0)
    assert mark.gap_since == 10.0, "more arrivals above a gap do not restart its clock"
    mark.settle({1}, now=30.0)
    assert mark.acked == 1 and mark.gap_since == 30.0, "progress restarts the clock for the gap that remains"
    mark.settle({2, 4}, now=40.0)
    assert mark.acked == 5 and mark.gap_since is None


def test_advanced_by_predicts_without_changing_anything():
    mark = Watermark()
    mark.settle({1, 2, 4, 6}, now=7.0)
    assert mark.advanced_by({3}) == 4
    assert mark.advanced_by({3, 5}) == 6
    assert mark.advanced_by({1, 2}) == 2
    assert mark.advanced_by(set()) == 2
    assert mark.advanced_by({7}) == 2
    assert (mark.acked, mark.above, mark.gap_since) == (2, {4, 6}, 7.0)
    assert mark.missing_ranges() == [(3, 3), (5, 5)]


def contiguous_prefix(delivered: set[int]) -> int:
    top = 0
    while top + 1 in delivered:
        top += 1
    return top


@st.composite
def deliveries(draw) -> tuple[int, list[list[int]]]:
    """Every sequence 1..n at least once, some again, shuffled, cut into chunks of random sizes."""
    n = draw(st.integers(1, 80))
    repeats = draw(st.lists(st.integers(1, n), max_size=n))
    order = draw(st.permutations(list(range(1, n + 1)) + repeats))
    chunks, start = [], 0
    while start < len(order):
        size = draw(st.integers(1, 12))
        chunks.append(list(order[start:start + size]))
        start += size
    return n, chunks


@settings(max_examples=300, deadline=None)
@given(deliveries())
def test_any_delivery_order_ends_fully_acked_and_never_overtakes_what_arrived(case):
    n, chunks = case
    mark = Watermark()
    delivered: set[int] = set()
    for clock, chunk in enumerate(chunks):
        predicted = mark.advanced_by(set(chunk))
        before = mark.acked
        delivered.update(chunk)
        moved = mark.settle(set(chunk), now=float(clock))
        assert mark.acked <= contiguous_prefix(delivered)
        assert mark.acked == contiguous_prefix(delivered), "everything contiguous that arrived is acked"
        assert predicted == mark.acked and moved == (mark.acked != before)
        ranges = mark.missing_ranges()
        holes = {seq for low, high in ranges for seq in range(low, high + 1)}
        assert all(mark.acked < low <= high for low, high in ranges) and not holes & delivered
        if len(ranges) < MAX_RANGES:
            assert holes == set(range(mark.acked + 1, max(delivered) + 1)) - delivered
        assert (mark.gap_since is None) == (max(delivered) == mark.acked)
    assert mark.acked == n
    assert (mark.above, mark.missing_ranges(), mark.gap_since) == (set(), [], None)
