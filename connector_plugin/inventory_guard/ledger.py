"""The settlement ledger (delayed venues with ``settlement_notice_max_delay_s``): deciding, after the fact, whether
a fill that left the book undecided was real.

A fill past its settlement window leaves the pending book at a snapshot that is inside-if-real; when the sums cannot
say whether that snapshot shows it, it leaves *undecided* and the book carries the slack (what unexplained would be
were it a phantom; see pending.py). Nothing in the book narrows that slack while 20-30 candidates reach every sum,
so one unreported fill costs both bounds for the rest of the session. The venue keeps talking, though: every
settlement notice that comes later pins another fill's settlement to within ``settlement_notice_max_delay_s``
before it, and once the fills that could have settled alongside the undecided one are pinned or themselves past
their window, the snapshots' moves often leave it only one possibility.

The ledger keeps, per market, the applied snapshots (as_of and value, in as_of order) of the last four settlement
windows and a record of every fill that arrived since the oldest of them less a window (its arrival, signed size,
notice, failure), whether or not it is still pending. To decide fill F it takes the snapshots from the last one
before F arrived (``a_0``) to the first one a window after it (``a_K``, inside which F is if real) and asks which of
"F settled in one of these intervals" and "F never settled" some assignment of fills to intervals allows, where:

* each interval's fills sum to the move between its two snapshots;
* a fill settles at or after its arrival, once; a fill reported settled at ``n`` settled in ``[n - delay, n]``
  (never a phantom); a fill reported failed never settles; any other fill settles within its window (by the first
  snapshot whose as_of is a window after its arrival) or never (a phantom, or unreported and outside the span);
* a fill may settle before ``a_0`` or after ``a_K`` where that is allowed: the moves outside the span are not used
  (dropping constraints only adds assignments, so a possibility ruled out here is ruled out in every world).

Exactly one possibility left: F is decided (real, or a phantom); both or none (a broken model: a transfer, a fill
whose notice came later than the delay allows): it stays undecided. The search runs interval by interval over the
fills with a choice (the others are subtracted from their one interval), memoized on the choices still open; past
``reconcile_max_candidates`` such fills or ``reconcile_max_steps`` steps it gives up (counted) and F stays
undecided. Spans the ledger cannot see whole (fills that arrived before it started, or before a restart of its
history after a move the pending fills did not explain or a notice the model does not allow) are not decided.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from decimal import Decimal

from .subsets import every_subset

FillKey = tuple[str, str]

HISTORY_WINDOWS = 4  # snapshots kept: this many settlement windows back from the newest as_of


class _Record:
    __slots__ = ("arrived", "signed", "noticed", "failed")

    def __init__(self, arrived: Decimal, signed: Decimal, noticed: Decimal | None = None, failed: bool = False) -> None:
        self.arrived = arrived
        self.signed = signed  # the position change (a sell negative)
        self.noticed = noticed
        self.failed = failed

    def to_list(self, key: FillKey) -> list:
        return [key[0], key[1], str(self.arrived), str(self.signed),
                None if self.noticed is None else str(self.noticed), self.failed]


class _GiveUp(Exception):
    pass


class SettlementLedger:
    def __init__(self, window: Decimal, notice_delay: Decimal) -> None:
        self.window = window
        self.delay = notice_delay
        self.records: OrderedDict[FillKey, _Record] = OrderedDict()  # in arrival order
        self.by_trade: dict[str, list[FillKey]] = {}  # trade_id -> the recorded fills of that trade
        self.as_ofs: list[Decimal] = []  # applied snapshots, ascending as_of
        self.values: list[Decimal] = []  # their values
        # Fills that arrived before this may be unknown to the ledger (it started, or its history restarted)
        self.start: Decimal | None = None

    # --- recording ---------------------------------------------------------------------------------------------

    def fill(self, key: FillKey, arrived: Decimal, signed: Decimal) -> None:
        if self.start is None:
            self.start = arrived
        if key not in self.records:
            self.records[key] = _Record(arrived, signed)
            self.by_trade.setdefault(key[0], []).append(key)

    def keys(self, trade_id: str, order_id: str | None) -> list[FillKey]:
        """The recorded fills of a trade (of one order of it, if named)."""
        return [k for k in self.by_trade.get(trade_id, ()) if order_id in (None, k[1])]

    def reported(self, key: FillKey) -> bool | None:
        """True: reported settled; False: reported failed; None: neither (or not recorded)."""
        record = self.records.get(key)
        if record is None or (record.noticed is None and not record.failed):
            return None
        return not record.failed

    def notice(self, key: FillKey, at: Decimal) -> None:
        """The venue reported the fill settled at ``at`` (the later report wins over a failure)."""
        record = self.records.get(key)
        if record is None:
            return
        record.failed = False
        if record.noticed is None:
            record.noticed = at
            deadline = self._deadline(record.arrived)
            late = deadline is not None and at - self.delay > deadline
            if at < record.arrived or late:
                self.restart(at)  # settled before its message or after its window: outside the model

    def failed(self, key: FillKey) -> None:
        record = self.records.get(key)
        if record is not None:
            record.failed = True
            record.noticed = None

    def snapshot(self, as_of: Decimal, value: Decimal) -> None:
        """An applied snapshot (or force reconcile); as_of never below the previous one's."""
        if self.start is None:
            self.start = as_of
        if self.as_ofs and as_of <= self.as_ofs[-1]:
            if as_of == self.as_ofs[-1] and value != self.values[-1]:  # two answers for one instant: one is stale
                self.restart(as_of)
                self.values[-1] = value
            return  # (an earlier one, say a force reconcile stamped before the last snapshot: not used)
        self.as_ofs.append(as_of)
        self.values.append(value)
        self._prune(as_of - HISTORY_WINDOWS * self.window)

    def restart(self, at: Decimal) -> None:
        """The moves before ``at`` are not to be used (a move the pending fills did not explain, a notice outside the
        model): spans start again after it."""
        if self.start is None or at > self.start:
            self.start = at

    def _prune(self, before: Decimal) -> None:
        drop = bisect.bisect_left(self.as_ofs, before)
        if drop >= 64 or drop > len(self.as_ofs) // 2:  # (in batches: amortized O(1) per snapshot)
            del self.as_ofs[:drop], self.values[:drop]
        if not self.as_ofs:
            return
        oldest = self.as_ofs[0] - self.window  # fills that arrived before this cannot settle after any kept snapshot
        while self.records:
            key, record = next(iter(self.records.items()))
            if record.arrived >= oldest:
                break
            del self.records[key]
            same = self.by_trade.get(key[0])
            if same is not None:
                same.remove(key)
                if not same:
                    del self.by_trade[key[0]]

    # --- deciding ----------------------------------------------------------------------------------------------

    def _deadline(self, arrived: Decimal) -> Decimal | None:
        """The as_of of the first snapshot a window after ``arrived`` (a real fill is inside it), if applied yet."""
        i = bisect.bisect_left(self.as_ofs, arrived + self.window)
        return self.as_ofs[i] if i < len(self.as_ofs) else None

    def decide(self, key: FillKey, step: Decimal, max_choices: int, max_steps: int) -> bool | None:
        """True: the fill was real (it settled within its window); False: it never settled; None: undecided (both
        are possible, none is, the span is not seen whole, or the search gave up: see the module docstring)."""
        record = self.records.get(key)
        if record is None:
            return None
        if record.failed:
            return False
        if record.noticed is not None:
            return True
        as_ofs, window = self.as_ofs, self.window
        i0 = bisect.bisect_left(as_ofs, record.arrived) - 1  # the last snapshot before it arrived
        end = bisect.bisect_left(as_ofs, record.arrived + window)  # the first a window after: inside it if real
        if i0 < 0 or end >= len(as_ofs) or self.start is None or as_ofs[i0] - window < self.start:
            return None
        a0, a_end = as_ofs[i0], as_ofs[end]
        count = end - i0  # intervals 1..count: (as_ofs[i0 + k - 1], as_ofs[i0 + k]]
        residual = [0] + [int((self.values[i0 + k] - self.values[i0 + k - 1]) / step) for k in range(1, count + 1)]
        choices: list[tuple[int, int, int, bool]] = []  # (units, first interval, last interval, may be outside)
        target = -1
        for other_key, other in self.records.items():  # (arrival order: stop past the span)
            if other.arrived > a_end:
                break
            if other.failed or other.arrived <= a0 - window:  # never settles / inside a_0 if real
                continue
            if other.noticed is not None:
                low = max(other.arrived, other.noticed - self.delay)
                high = other.noticed
                outside = low <= a0 or high > a_end
            else:
                low = other.arrived
                deadline = self._deadline(other.arrived)
                high = a_end if deadline is None or deadline > a_end else deadline
                outside = True  # a phantom (or unreported and settled outside the span)
            first = max(bisect.bisect_left(as_ofs, low, i0 + 1, end + 1), i0 + 1) - i0  # first as_of >= low
            last = min(bisect.bisect_left(as_ofs, high, i0, end + 1), end) - i0  # last interval starting < high
            if first > last:
                if not outside:
                    return None  # (outside the model: it has no interval)
                continue
            if other_key == key:
                target = len(choices)
            elif first == last and not outside:
                residual[first] -= int(other.signed / step)
                continue
            choices.append((int(other.signed / step), first, last, outside))
        if target < 0 or len(choices) > max_choices:
            return None
        try:
            possible = self._search(choices, residual, count, target, max_steps)
        except _GiveUp:
            return None
        if possible == {True}:
            return True
        if possible == {False}:
            return False
        return None

    @staticmethod
    def _search(choices: list[tuple[int, int, int, bool]], residual: list[int], count: int, target: int,
                max_steps: int) -> set[bool]:
        """Interval by interval, the sets of choices still open (settled so far, by index) that some assignment
        reaches; returns whether the target settled, over the assignments that explain every move."""
        states: set[tuple[frozenset[int], bool]] = {(frozenset(), False)}
        budget = [max_steps]
        for k in range(1, count + 1):
            here = [i for i, c in enumerate(choices) if c[1] <= k <= c[2]]
            nxt: set[tuple[frozenset[int], bool]] = set()
            for taken, settled in states:
                free = [i for i in here if i not in taken]
                must = [i for i in free if choices[i][2] == k and not choices[i][3]]  # its last chance to settle
                optional = [i for i in free if i not in must]
                need = residual[k] - sum(choices[i][0] for i in must)
                subsets = every_subset([choices[i][0] for i in optional], need, budget)
                if subsets is None:
                    raise _GiveUp
                for picked in subsets:
                    chosen = set(must).union(optional[p] for p in picked)
                    alive = frozenset(i for i in taken | chosen if choices[i][2] > k)  # (past k: no choice left)
                    nxt.add((alive, settled or target in chosen))
                    if len(nxt) > max_steps:
                        raise _GiveUp
            states = nxt
            if not states:
                return set()
        return {settled for _taken, settled in states}

    # --- persistence -------------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "start": None if self.start is None else str(self.start),
            "snapshots": [[str(a), str(v)] for a, v in zip(self.as_ofs, self.values, strict=True)],
            "fills": [record.to_list(key) for key, record in self.records.items()],
        }

    @classmethod
    def from_dict(cls, data: dict, window: Decimal, notice_delay: Decimal) -> SettlementLedger:
        ledger = cls(window, notice_delay)
        start = data["start"]
        ledger.start = None if start is None else Decimal(_text(start))
        for as_of, value in data["snapshots"]:
            ledger.as_ofs.append(Decimal(_text(as_of)))
            ledger.values.append(Decimal(_text(value)))
        for trade_id, order_id, arrived, signed, noticed, failed in data["fills"]:
            if type(failed) is not bool:
                raise TypeError(f"ledger fill {trade_id!r}: failed must be a boolean")
            key = (_text(trade_id), _text(order_id))
            ledger.by_trade.setdefault(key[0], []).append(key)
            ledger.records[key] = _Record(
                Decimal(_text(arrived)), Decimal(_text(signed)), None if noticed is None else Decimal(_text(noticed)),
                failed)
        return ledger


def _text(value) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {type(value).__name__} {value!r}")
    return value

