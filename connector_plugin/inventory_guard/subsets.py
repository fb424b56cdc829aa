"""The exact subset searches behind the pending book's sums (pure functions over integers: the fills' signed sizes
in units of the market's size step). Each is memoized on (index, running sum) and bounded by ``max_steps``."""

from __future__ import annotations

from typing import NamedTuple


class Search(NamedTuple):
    solutions: int  # 0, 1 or 2 (2 means "two or more")
    first: frozenset[int]  # indices of the first subset found (oldest fills tried inside first); empty if none
    complete: bool  # False: the step bound was hit, so 0 or 1 proves nothing


def _reach(units: list[int]) -> tuple[list[int], list[int]]:
    """The most and the least any subset of ``units[i:]`` can add, for every i (the searches prune on them)."""
    n = len(units)
    pos = [0] * (n + 1)
    neg = [0] * (n + 1)
    for i in range(n - 1, -1, -1):
        pos[i] = pos[i + 1] + max(units[i], 0)
        neg[i] = neg[i + 1] + min(units[i], 0)
    return pos, neg


def subset_search(units: list[int], target: int, max_steps: int) -> Search:
    """Count (up to 2) the subsets of ``units`` summing to ``target``; memoized on (index, running sum)."""
    n = len(units)
    pos, neg = _reach(units)
    memo: dict[tuple[int, int], int] = {}
    steps = 0

    def count(i: int, s: int) -> int:
        nonlocal steps
        if s + neg[i] > target or s + pos[i] < target:
            return 0
        if i == n:
            return 1
        key = (i, s)
        hit = memo.get(key)
        if hit is not None:
            return hit
        steps += 1
        if steps > max_steps:
            raise _StepsExhausted
        found = count(i + 1, s + units[i])
        if found < 2:
            found = min(2, found + count(i + 1, s))
        memo[key] = found
        return found

    try:
        total = count(0, 0)
    except _StepsExhausted:
        return Search(0, frozenset(), False)
    if not total:
        return Search(0, frozenset(), True)
    steps, max_steps = 0, 1 << 62  # the walk below reads what the count computed (and prunes the rest)
    chosen, s = [], 0
    for i in range(n):  # walk the memo: take the fill whenever a completion exists with it (oldest first)
        if count(i + 1, s + units[i]):
            chosen.append(i)
            s += units[i]
    return Search(total, frozenset(chosen), True)


class _StepsExhausted(Exception):
    pass


def subset_minima(units: list[int], weights: list[tuple[tuple[int, ...], tuple[int, ...]]], target: int,
                  max_steps: int, objectives: int = 3, high: int | None = None) -> tuple[int, ...] | None:
    """For each objective k, the least sum over the subsets S of ``units`` summing to ``target`` (or, with ``high``,
    to anything from ``target`` to ``high``) of ``weights[i][0][k]`` (i in S) plus ``weights[i][1][k]`` (i not in
    S); None when no subset sums to it or the step bound was hit. Memoized on (index, running sum), like
    subset_search."""
    try:
        return _minimizer(units, weights, target, max_steps, objectives, high)(0, 0)
    except _StepsExhausted:
        return None


def subset_sums(units: list[int]) -> tuple[int, int]:
    """Every sum a subset of ``units`` can make, as a bitset: bit ``s - low`` is set when some subset sums to ``s``
    (``low``: the sum of the negative units); returns (bits, low). O(len(units)) big-integer shifts."""
    low = sum(u for u in units if u < 0)
    bits = 1 << -low  # the empty subset
    for u in units:
        bits |= bits << u if u > 0 else bits >> -u  # (no reachable sum is below low: nothing is shifted out)
    return bits, low


def _minimizer(units, weights, target: int, max_steps: int, objectives: int, high: int | None = None):
    top = target if high is None else high
    n = len(units)
    pos, neg = _reach(units)
    memo: dict[tuple[int, int], tuple[int, ...] | None] = {}
    steps = 0
    zeros = (0,) * objectives

    def best(i: int, s: int) -> tuple[int, ...] | None:
        nonlocal steps
        if s + neg[i] > top or s + pos[i] < target:
            return None
        if i == n:
            return zeros
        key = (i, s)
        if key in memo:
            return memo[key]
        steps += 1
        if steps > max_steps:
            raise _StepsExhausted
        inside, outside = weights[i]
        a = best(i + 1, s + units[i])
        b = best(i + 1, s)
        if a is None:
            out = None if b is None else tuple(x + w for x, w in zip(b, outside, strict=False))
        elif b is None:
            out = tuple(x + w for x, w in zip(a, inside, strict=False))
        else:
            out = tuple(min(x + w, y + v) for x, w, y, v in zip(a, inside, b, outside, strict=False))
        memo[key] = out
        return out

    return best


def subset_solutions(units: list[int], target: int, max_steps: int, limit: int) -> list[frozenset[int]] | None:
    """Up to ``limit`` subsets of ``units`` summing to ``target``, the oldest-first one first (each a set of
    indices); None when the step bound was hit before they were found. Memoized on (index, running sum)."""
    n = len(units)
    feasible = _minimizer(units, [((), ())] * n, target, max_steps, 0)  # no objective: () where a completion exists

    def exists(i: int, s: int) -> bool:
        return feasible(i, s) is not None

    out: list[frozenset[int]] = []
    chosen: list[int] = []

    def walk(i: int, s: int) -> None:  # every node it enters has a completion: O(limit * n) beyond the memo
        if i == n:
            out.append(frozenset(chosen))
            return
        if exists(i + 1, s + units[i]):
            chosen.append(i)
            walk(i + 1, s + units[i])
            chosen.pop()
        if len(out) < limit and exists(i + 1, s):
            walk(i + 1, s)

    try:
        if exists(0, 0):
            walk(0, 0)
    except _StepsExhausted:
        return None
    return out


def every_subset(units: list[int], target: int, budget: list[int]) -> list[list[int]] | None:
    """Every subset of ``units`` summing to ``target`` (each a list of indices, ascending), depth first and pruned on
    the reachable range, not memoized (each is listed); each step spends one of ``budget[0]``, shared by the caller's
    searches: None once none is left."""
    n = len(units)
    pos, neg = _reach(units)
    found: list[list[int]] = []
    picked: list[int] = []

    def walk(i: int, rest: int) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise _StepsExhausted
        if rest < neg[i] or rest > pos[i]:
            return
        if i == n:
            found.append(list(picked))
            return
        picked.append(i)
        walk(i + 1, rest - units[i])
        picked.pop()
        walk(i + 1, rest)

    try:
        walk(0, target)
    except _StepsExhausted:
        return None
    return found


def reachable_offsets(sums: tuple[int, int], target: int, low: int, high: int) -> tuple[int, int, int] | None:
    """The offsets x from ``low`` to ``high`` for which some subset sums to ``target + x``, given the subsets' sums
    as ``subset_sums`` returns them: the least, the greatest and the one nearest 0 (of two as near, the higher).
    None: there is none."""
    bits, base = sums
    a = max(target + low - base, 0)  # the window's bit positions: a..b
    b = target + high - base
    window = (bits >> a) & ((1 << (b - a + 1)) - 1) if b >= a else 0
    if not window:
        return None
    least = (window & -window).bit_length() - 1
    most = window.bit_length() - 1
    zero = target - base - a  # x = 0 in the window's positions
    if zero <= least:
        near = least
    elif zero >= most:
        near = most
    else:
        above = window >> zero
        up = zero + (above & -above).bit_length() - 1  # the first reachable at or above x = 0
        down = (window & ((1 << (zero + 1)) - 1)).bit_length() - 1  # the last at or below it
        near = up if up - zero <= zero - down else down
    return least + a + base - target, most + a + base - target, near + a + base - target
