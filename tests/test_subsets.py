"""The pending book's exact searches (inventory_guard.subsets) and the slack's reachable offsets
(reachable_offsets, and the book's use of it) against brute force over every subset of small inputs."""

from __future__ import annotations

from decimal import Decimal as D
from itertools import combinations

from hypothesis import given, settings, strategies as st

from inventory_guard.pending import PendingBook
from inventory_guard.subsets import reachable_offsets, subset_minima, subset_search, subset_solutions, subset_sums

units = st.lists(st.integers(-9, 9).filter(bool), max_size=7)


def every_subset(n: int):
    for r in range(n + 1):
        yield from (frozenset(c) for c in combinations(range(n), r))


def total(values: list[int], subset: frozenset[int]) -> int:
    return sum(values[i] for i in subset)


@settings(max_examples=400, deadline=None)
@given(units, st.integers(-20, 20))
def test_the_search_counts_the_subsets_and_finds_the_oldest_first_one(values, target):
    hits = [s for s in every_subset(len(values)) if total(values, s) == target]
    found = subset_search(values, target, 10_000)
    assert found.complete and found.solutions == min(len(hits), 2)
    if hits:  # the first: each fill inside whenever some completion has it, oldest first
        assert found.first in hits
        assert found.first == max(hits, key=lambda s: [i in s for i in range(len(values))])
    listed = subset_solutions(values, target, 10_000, 1000)
    assert listed is not None and sorted(map(sorted, listed)) == sorted(map(sorted, hits))


@settings(max_examples=400, deadline=None)
@given(units, st.integers(-20, 20), st.integers(0, 6), st.data())
def test_the_worst_case_over_a_target_range_is_the_least_over_those_subsets(values, low, width, data):
    weights: list[tuple[tuple[int, ...], tuple[int, ...]]] = [
        ((data.draw(st.integers(-5, 5)),), (data.draw(st.integers(-5, 5)),)) for _ in values]
    high = low + width
    cases = [sum(weights[i][0][0] if i in s else weights[i][1][0] for i in range(len(values)))
             for s in every_subset(len(values)) if low <= total(values, s) <= high]
    worst = subset_minima(values, weights, low, 10_000, 1, high=high)
    assert worst == ((min(cases),) if cases else None)


@settings(max_examples=400, deadline=None)
@given(units)
def test_the_subset_sums_bitset_holds_every_sum_and_nothing_else(values):
    bits, low = subset_sums(values)
    reachable = {low + i for i in range(bits.bit_length()) if bits >> i & 1}
    assert reachable == {total(values, s) for s in every_subset(len(values))}


@settings(max_examples=600, deadline=None)
@given(units, st.integers(-20, 20), st.integers(-6, 0), st.integers(0, 6))
def test_the_slack_offsets_are_the_reachable_ones_and_the_nearest_to_zero(values, target, low, high):
    book = PendingBook()
    book.slack_low, book.slack_high = D(low), D(high)
    sums = {total(values, s) for s in every_subset(len(values))}
    offsets = [x for x in range(low, high + 1) if target + x in sums]
    got = book._offsets(subset_sums(values), target)
    assert got == reachable_offsets(subset_sums(values), target, low, high)
    if not offsets:
        assert got is None
    else:  # (nearest to 0; of two as near, the higher)
        assert got == (min(offsets), max(offsets), min(offsets, key=lambda x: (abs(x), -x)))
