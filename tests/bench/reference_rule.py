"""The reconciliation rule inventory-guard used before settlement evidence (kept only as the benchmark's
reference; from the earlier core, persistence removed, names as today's: its fields ``head`` and ``held``, one letter
apart with different meanings, are ``kept_back`` and ``held``).

Pending fills of one market, with running sums and an O(1) index for reconciling a snapshot's move.

A snapshot moves the confirmed position by ``move``. Pending fills are settled by the venue mostly in arrival
order, so the fills a snapshot "explains" are the shortest oldest-first run whose signed sum equals ``move``.
Finding that run must not cost O(pending), so every fill remembers ``cum``: the running signed total of all fills
ever added to the clean region, up to and including itself. For the fills in the *clean region* (see below) the
sum of the run up to fill ``g`` is ``g.cum - base - tombstones_before(g)``, so "the earliest fill whose run sums to
X" is a dict lookup of ``cum == base + X + tombstones``.

The book's order is arrival order: ``[kept-back buys][clean region]``.

* clean region — fills exactly as they arrived. Fills removed from its middle (failed trades) leave *tombstones*
  (seq, signed amount) so run sums stay computable; the kept-back region advancing past them forgets them.
* kept-back buys — buys kept back by an ambiguous reconciliation (possibly partly confirmed), and the *held* buys a
  force reconcile took out of the effective position. The API has most likely shown them already, so a run may
  explain a move with them or without them. All buys, so their running sums increase strictly and a short scan
  finds a match among them; the age-out bounds how many there are.

Safety rule (conservative exposure never under-counts): a reconciliation drops every sell of the matched run but
drops buys only up to ``max(move, 0)``, oldest first (kept-back buys first). Whatever subset of the pending fills really
settled, its buys are at least ``move`` (its sells are at least 0), so no buy the API has not shown is dropped. When
the run holds only buys this confirms it whole; when it mixes sides, the newest buys of it stay pending (an
over-count of effective and conservative exposure until a later move shows them or they age out — never an
under-count). Which run is chosen affects how fast the over-count resolves, never safety.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)
FillKey = tuple[str, str]


@dataclass(slots=True)
class PendingFill:
    key: FillKey
    side: str  # "buy" | "sell"
    amount: Decimal  # position change still pending (net of fee), > 0
    arrived: Decimal  # arrival time, monotonic within the book
    seq: int
    cum: Decimal  # running signed total of the book up to and including this fill (as added)
    kept_back: bool = False  # kept back by an ambiguous reconciliation (lives in the kept-back region)
    held: bool = False  # a buy a force reconcile took out of effective but keeps in conservative exposure
    reserved: Decimal = ZERO  # what this fill took from its order's reservation (given back if it never settles)
    settled_at: None = None  # the earlier rule had no settlement notices

    @property
    def signed(self) -> Decimal:
        return self.amount if self.side == "buy" else -self.amount

    def to_list(self) -> list:
        return [self.key[0], self.key[1], self.side, str(self.amount), str(self.arrived), self.seq, str(self.cum),
                self.kept_back, self.held, str(self.reserved)]

    @classmethod
    def from_list(cls, row: list) -> PendingFill:
        trade_id, order_id, side, amount, arrived, seq, cum, kept_back, held, reserved = row
        return cls((trade_id, order_id), side, Decimal(amount), Decimal(arrived), seq, Decimal(cum), kept_back, held,
                   Decimal(reserved))


@dataclass(slots=True)
class Removed:
    """A fill leaving the book: why, and how long it was pending."""

    fill: PendingFill
    amount: Decimal  # the amount that left (a partial confirmation leaves less than the fill's amount)
    whole: bool


class _CumIndex:
    """cum value -> fills of the clean region with that cum, in seq order (entries go stale lazily)."""

    __slots__ = ("lists",)

    def __init__(self) -> None:
        self.lists: dict[Decimal, list[PendingFill]] = {}

    def add(self, fill: PendingFill) -> None:
        self.lists.setdefault(fill.cum, []).append(fill)

    def discard(self, fill: PendingFill) -> None:
        entries = self.lists.get(fill.cum, [])
        for i, entry in enumerate(entries):
            if entry is fill:
                del entries[i]
                if not entries:
                    del self.lists[fill.cum]
                return

    def first_live(self, cum: Decimal, after_seq: int, before_seq: int | None, live) -> PendingFill | None:
        entries = self.lists.get(cum)
        if not entries:
            return None
        i = bisect.bisect_right(entries, after_seq, key=lambda f: f.seq)
        for fill in entries[i:]:
            if before_seq is not None and fill.seq >= before_seq:
                return None
            if live(fill):
                return fill
        return None

    def forget_front(self, fill: PendingFill, live) -> None:
        """``fill`` left the front of the clean region: drop it and any stale entries before it from its list."""
        entries = self.lists.get(fill.cum)
        if not entries:
            return
        i = 0
        while i < len(entries) and (entries[i] is fill or not live(entries[i])) and entries[i].seq <= fill.seq:
            i += 1
        if i == len(entries):
            del self.lists[fill.cum]
        elif i:
            del entries[:i]


class PendingBook:
    def __init__(self, zero: Decimal = ZERO) -> None:
        self.zero = zero  # zero at the market's size-step exponent, so sums print as 0.00
        self.fills: OrderedDict[FillKey, PendingFill] = OrderedDict()
        self.pending_fill_buys = zero  # sum of pending buy amounts (held buys excluded)
        self.pending_fill_sells = zero  # sum of pending sell amounts
        self.held_buys = zero  # sum of held buys (see force_clear)
        self.held_count = 0
        self.kept_back_buys = zero  # sum of the kept-back region
        self.kept_back_count = 0
        self.total = ZERO  # cum of the last fill added
        self.base = ZERO  # cum just before the clean region's first fill
        self.next_seq = 0
        self.tombstones: list[tuple[int, Decimal]] = []  # (seq, signed) of fills removed from the clean region's middle
        self.index = _CumIndex()

    # --- reading -------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.fills)

    def __contains__(self, key: FillKey) -> bool:
        return key in self.fills

    def oldest(self) -> PendingFill | None:
        return next(iter(self.fills.values()), None)

    def __iter__(self) -> Iterator[PendingFill]:
        return iter(self.fills.values())

    # --- writing -------------------------------------------------------------------------------------------

    def add(self, key: FillKey, side: str, amount: Decimal, arrived: Decimal, *_ignored,
            held: bool = False) -> PendingFill:
        signed = amount if side == "buy" else -amount
        self.total += signed
        fill = PendingFill(key, side, amount, arrived, self.next_seq, self.total, held=held)
        self.next_seq += 1
        self.fills[key] = fill
        self.index.add(fill)
        self._count(fill, +1)
        return fill

    def hold(self, fill: PendingFill) -> None:
        """(The core's reservation bookkeeping for fills past the window: the earlier rule had none.)"""

    def order_closed(self, order_id: str) -> None:
        """(As ``hold``.)"""

    def remove(self, key: FillKey) -> PendingFill | None:
        """Remove one fill wherever it is (a failed trade)."""
        fill = self.fills.get(key)
        if fill is None:
            return None
        if next(iter(self.fills)) == key:
            self._pop_front()
            return fill
        del self.fills[key]
        if not self._uncount(fill):
            bisect.insort(self.tombstones, (fill.seq, fill.signed))
            self.index.discard(fill)
        return fill

    def age_out(self, cutoff: Decimal) -> list[PendingFill]:
        """Drop every fill that arrived before ``cutoff`` (oldest first; arrival order is book order)."""
        dropped = []
        while self.fills:
            fill = next(iter(self.fills.values()))
            if fill.arrived >= cutoff:
                break
            self._pop_front()
            dropped.append(fill)
        return dropped

    def force_clear(self) -> list[PendingFill]:
        """A force reconcile trusts the API: every fill leaves the effective position. Buys stay in the book as
        *held* buys — out of effective, still in conservative exposure — because a buy matched but not yet settled
        is invisible to the API, and dropping it could let the gate pass the limit. They leave like any pending
        fill: confirmed by a later snapshot's move, failed, or aged out. Returns the sells that left."""
        fills = list(self.fills.values())
        PendingBook.__init__(self, self.zero)
        for fill in fills:
            if fill.side == "buy":  # held buys live in the kept-back region: kept back, matched with or without
                held = PendingFill(fill.key, "buy", fill.amount, fill.arrived, self.next_seq, ZERO,
                                   kept_back=True, held=True, reserved=fill.reserved)
                self.next_seq += 1
                self.fills[held.key] = held
                self._count(held, +1)
                self.kept_back_buys += held.amount
                self.kept_back_count += 1
        return [fill for fill in fills if fill.side == "sell"]

    def reconcile(self, move: Decimal) -> list[Removed]:
        """Confirm the fills that a snapshot's ``move`` explains (see the module docstring); return what left."""
        if move == 0 or not self.fills:
            return []
        end = self._shortest_prefix(move)
        if end is None:
            return []
        end_in_clean_region = not end.kept_back
        prefix = []
        for fill in self.fills.values():
            prefix.append(fill)
            if fill is end:
                break
        # Whatever really settled since the last snapshot, its buys are `move` plus its sells, so at least `move`:
        # buys may be dropped only up to that. (Tighter bounds that reason about which pending fills could have
        # settled are unsound: an earlier ambiguous match may already have dropped a sell that settles only now.)
        budget = max(move, ZERO)
        removed: list[Removed] = []
        for fill in prefix:
            if fill.side == "sell" or budget >= fill.amount:
                if fill.side == "buy":
                    budget -= fill.amount
                self._take(fill)
                removed.append(Removed(fill, fill.amount, True))
            else:
                part, budget = budget, ZERO
                self._keep_back(fill, fill.amount - part)
                if part:
                    removed.append(Removed(fill, part, False))
        if end_in_clean_region:
            # The clean region now starts after `end`: its cum becomes the base, older tombstones are absorbed.
            self.base = end.cum
            del self.tombstones[: bisect.bisect_left(self.tombstones, (end.seq + 1,))]
        return removed

    # --- internals ---------------------------------------------------------------------------------------------

    def _live_clean(self, fill: PendingFill) -> bool:
        return not fill.kept_back and self.fills.get(fill.key) is fill

    def _count(self, fill: PendingFill, sign: int) -> None:
        self._add_amount(fill, sign * fill.amount)
        if fill.held:
            self.held_count += sign

    def _add_amount(self, fill: PendingFill, delta: Decimal) -> None:
        if fill.side == "sell":
            self.pending_fill_sells += delta
        elif fill.held:
            self.held_buys += delta
        else:
            self.pending_fill_buys += delta

    def _uncount(self, fill: PendingFill) -> bool:
        """Take a fill that left the book out of the sums; True when it was in the kept-back region (the clean
        region's index and tombstones are the caller's business)."""
        self._count(fill, -1)
        if fill.kept_back:
            self.kept_back_buys -= fill.amount
            self.kept_back_count -= 1
        return fill.kept_back

    def _pop_front(self) -> None:
        key, fill = self.fills.popitem(last=False)
        if not self._uncount(fill):
            self._forget_clean_front(fill)

    def _forget_clean_front(self, fill: PendingFill) -> None:
        self.base = fill.cum
        self.index.forget_front(fill, self._live_clean)
        if self.tombstones and self.tombstones[0][0] < fill.seq:
            del self.tombstones[: bisect.bisect_left(self.tombstones, (fill.seq,))]

    def _take(self, fill: PendingFill) -> None:
        """Remove a fill of the matched prefix."""
        del self.fills[fill.key]
        if not self._uncount(fill):
            self.index.forget_front(fill, self._live_clean)

    def _keep_back(self, fill: PendingFill, amount: Decimal) -> None:
        self._add_amount(fill, amount - fill.amount)
        if fill.kept_back:
            self.kept_back_buys -= fill.amount - amount
        else:
            self.index.forget_front(fill, self._live_clean)
            fill.kept_back = True
            self.kept_back_buys += amount
            self.kept_back_count += 1
        fill.amount = amount

    def _shortest_prefix(self, move: Decimal) -> PendingFill | None:
        """Where the run of fills that explains ``move`` ends (None: nothing explains it).

        Kept-back buys were kept back by an earlier ambiguous match, most likely because the API had already shown
        them; so a clean-region run may explain the move either with the kept-back buys or without them. The run that
        ends first wins. Which run is chosen never affects safety: the budget rule in ``reconcile`` does.
        """
        # 1. inside the kept-back buys: strictly increasing prefix sums
        running = ZERO
        last_kept = None
        if self.kept_back_count and move > 0:
            for fill in self.fills.values():
                if not fill.kept_back:
                    break
                running += fill.amount
                last_kept = fill
                if running >= move:
                    break
            if running == move:
                return last_kept
        # 2. in the clean region, with the kept-back buys counted and (when there are any) without them
        with_kept = self._clean_prefix(self.base + move - self.kept_back_buys)
        if not self.kept_back_count:
            return with_kept
        without_kept = self._clean_prefix(self.base + move)
        if with_kept is None or (without_kept is not None and without_kept.seq < with_kept.seq):
            return without_kept
        return with_kept

    def _clean_prefix(self, target: Decimal) -> PendingFill | None:
        """The first clean-region fill whose cum, corrected for tombstones before it, equals ``target``."""
        after = -1
        for seq, signed in self.tombstones:
            found = self.index.first_live(target, after, seq, self._live_clean)
            if found is not None:
                return found
            target += signed
            after = seq
        return self.index.first_live(target, after, None, self._live_clean)


# --- the earlier derived quantities and handlers, on top of today's Guard ------------------------------------------

import logging  # noqa: E402

from inventory_guard.core import Guard  # noqa: E402
from inventory_guard.market import MarketBook  # noqa: E402
from inventory_guard.numbers import fmt  # noqa: E402

log = logging.getLogger("inventory_guard.reference")


class ReferenceBook(MarketBook):
    def __init__(self, config) -> None:
        super().__init__(config)
        # the reference rule's own book where the core's goes (duck-typed: the core calls what both have)
        self.pending = PendingBook(self.pending.zero)  # type: ignore[assignment]

    @property
    def effective(self) -> Decimal:
        return self.confirmed + self.pending.pending_fill_buys - self.pending.pending_fill_sells

    @property
    def conservative_exposure(self) -> Decimal:
        return self.confirmed + self.pending.pending_fill_buys + self.pending.held_buys + self.open_buy_reservations

    @property
    def available_to_sell(self) -> Decimal:
        return self.effective - self.open_sell_reservations

    @property
    def pending_fills(self) -> int:
        return len(self.pending) - self.pending.held_count  # type: ignore[attr-defined]

    def state_key(self) -> tuple:
        p = self.pending
        return (self.confirmed, self.confirmed_at, p.pending_fill_buys, p.pending_fill_sells, len(p.fills),
                p.held_buys, self.open_buy_reservations, self.open_sell_reservations)


class ReferenceGuard(Guard):
    """Today's Guard with the earlier reconciliation: shortest oldest-first run, buys dropped up to max(move, 0),
    wall-clock age-out on every event, force reconcile clearing every fill (buys held)."""

    def _book(self, config, step):
        book = self.books.get(config.name)
        if book is None:
            book = self.books[config.name] = ReferenceBook(config)
        return step.touch(book)

    def _aged(self, market: str, now) -> None:
        book = self.books.get(market)
        if book is None:
            return
        oldest = book.pending.oldest()
        if oldest is None or now - oldest.arrived <= book.config.pending_fill_max_age_s:
            return
        for fill in book.pending.age_out(now - book.config.pending_fill_max_age_s):  # type: ignore[attr-defined]
            self._unsettled_exit(book, fill)
            book.bump("fills_aged_out")

    def _fill(self, event, step):
        self._aged(event.market, max(self.clock, event.t))
        return super()._fill(event, step)

    def _order_open(self, event, step):
        self._aged(event.market, max(self.clock, event.t))
        return super()._order_open(event, step)

    def _check(self, event, step):
        self._aged(event.market, max(self.clock, event.t))
        return super()._check(event, step)

    def _tick(self, event, step):
        super()._tick(event, step)
        for name in self.books:
            self._aged(name, self.clock)

    def _fill_settled(self, event, step):
        self._advance(event.t)  # the earlier rule had no use for settlement notices

    def _snapshot(self, event, step):
        config = self._market_config(event.market)
        size = self._position(config, event.size)
        as_of = event.t if event.as_of is None else min(event.as_of, event.t)
        now = self._advance(event.t)
        book = self._book(config, step)
        book.clock = now
        if book.last_as_of is not None and as_of < book.last_as_of:
            book.bump("out_of_order_snapshots")
            self._aged(config.name, now)
            return
        first = book.confirmed_at is None
        move = size - book.confirmed
        book.confirmed, book.confirmed_at, book.last_as_of = size, as_of, as_of
        if not first:
            for removed in book.pending.reconcile(move):
                if removed.whole:
                    self._forget_trade(book.config.name, removed.fill)
                    book.bump("fills_confirmed", how="sums")
        self._aged(config.name, now)

    def _force_reconcile(self, event, step):
        config = self._market_config(event.market)
        size = self._position(config, event.size)
        now = self._advance(event.t)
        book = self._book(config, step)
        book.clock = now
        gap = abs(book.effective - size)
        for fill in book.pending.force_clear():
            self._unsettled_exit(book, fill)
        log.debug("%s: force reconcile: gap %s", config.name, fmt(gap))
        book.confirmed, book.confirmed_at = size, now
        if book.last_as_of is None or now > book.last_as_of:
            book.last_as_of = now
        book.force_reconcile_gap = gap
        book.bump("force_reconciles", reason=event.reason)

    _HANDLERS = {**Guard._HANDLERS}


for _event_type, _handler in list(ReferenceGuard._HANDLERS.items()):
    ReferenceGuard._HANDLERS[_event_type] = getattr(ReferenceGuard, _handler.__name__)
