"""The guard: pure and framework-free. Events in, state and decisions out; time comes only from the events.

Each ``apply`` validates the whole event before it mutates anything, so a rejected event (``InvalidEvent``) leaves
the state exactly as it was. Every event costs O(1) amortized, whatever the number of pending fills.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal, getcontext, localcontext, setcontext
from typing import Any, ClassVar, NamedTuple

from .config import GuardConfig, MarketConfig, UnknownMarket
from .events import (
    Check,
    Event,
    Fill,
    FillSettled,
    ForceReconcile,
    Halt,
    InvalidEvent,
    OrderBlocked,
    OrderClosed,
    OrderOpen,
    Resume,
    Snapshot,
    Tick,
    TradeFailed,
)
from .gate import Decision, decide
from .ledger import SettlementLedger
from .market import MarketBook, MarketView
from .numbers import CONTEXT, fmt, quantize, round_down
from .pending import Exit, FillKey, PendingFill

log = logging.getLogger("inventory_guard")

__all__ = ["Guard", "Outcome", "Decision"]  # Decision lives in gate.py; hosts import it from here
ZERO = Decimal(0)



# 3: the chain of snapshots (hypotheses); 4: the keys named as the replay contract and the metrics name them
# (open_buys -> open_buy_reservations, last_force_reconcile_gap -> force_reconcile_gap); 5: instant venues' exact
# bounds; 6: fills past the window leave the hypotheses (frozen); 7: the slack; 8: the chain's floors; 9: the
# settlement ledger and the undecided fills behind the slack. An older checkpoint is ignored and the event log replayed.
CHECKPOINT_FORMAT = 9
# An undecided fill is tried once every fill that could have settled beside it has had its window (it settled by
# then if real) and the notice delay: this many windows plus the delay after it arrived. Tried until three windows.
DECIDE_AFTER_WINDOWS = 2
DECIDE_UNTIL_WINDOWS = 3


_FORMAT_1_KEYS = {"clock", "markets", "orders", "seen_fills", "failed_trades", "closed_orders"}  # before "format"


class CheckpointFormat(ValueError):
    """A checkpoint written by another version of the core (the journal then replays its event log instead)."""


class Outcome(NamedTuple):
    changed: tuple[str, ...] = ()  # markets whose replay STATE changed
    touched: tuple[str, ...] = ()  # markets with any change (state, counters, clock) — what a journal rewrites
    decision: Decision | None = None


@dataclass(slots=True)
class Order:
    market: str
    side: str
    remaining: Decimal


class _BoundedSet:
    """A set that forgets its oldest members beyond ``limit`` (FIFO), for dedup memories."""

    __slots__ = ("limit", "order", "members")

    def __init__(self, limit: int, items=()) -> None:
        self.limit = limit
        self.order: deque = deque()
        self.members: set = set()
        for item in items:
            self.add(item)

    def __contains__(self, item) -> bool:
        return item in self.members

    def discard(self, item) -> None:
        if item in self.members:
            self.members.discard(item)
            self.order.remove(item)

    def add(self, item) -> None:
        if item in self.members:
            return
        self.order.append(item)
        self.members.add(item)
        if len(self.order) > self.limit:
            self.members.discard(self.order.popleft())


class _Step(dict):
    """What one event touched: market -> its state_key before the event (to tell which states changed)."""

    __slots__ = ()

    def touch(self, book: MarketBook) -> MarketBook:
        name = book.config.name
        if name not in self:
            self[name] = book.state_key()
        return book


class Guard:
    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self.books: dict[str, MarketBook] = {}
        self.ledgers: list[tuple[MarketBook, SettlementLedger]] = []  # the books with a settlement ledger
        self.orders: dict[str, Order] = {}
        self.seen_fills = _BoundedSet(config.seen_fill_keys_max)  # (market, trade_id, order_id)
        self.failed_trades = _BoundedSet(config.seen_fill_keys_max)  # trade ids (trade_failed names no market)
        self.closed_orders = _BoundedSet(config.seen_fill_keys_max)  # so a re-delivered creation cannot reserve again
        self.trade_fills: dict[str, list[tuple[str, FillKey]]] = {}  # trade_id -> pending fills of that trade
        self.done_trades = _BoundedSet(config.seen_fill_keys_max)  # trades whose fills left the book (not failed)
        # fill_settled notices that came before their fill: trade_id -> (time, order_id or None), oldest first
        self.early_notices: OrderedDict[str, tuple[Decimal, str | None]] = OrderedDict()
        # fills dropped by trade_failed, kept so a later fill_settled can bring them back (the later report wins)
        self.failed_fills: OrderedDict[str, list[tuple[str, FillKey, str, Decimal]]] = OrderedDict()
        self.clock = ZERO
        # True while restoring from a journal (what was accepted is replayed as accepted) and, after an open, for
        # the first event accepted: a bot restarted after a long stop starts from its first event (not persisted).
        self.clock_settable = False

    # --- reading -------------------------------------------------------------------------------------------

    @property
    def markets(self) -> list[str]:
        return list(self.books)

    def state(self, market: str) -> MarketView:
        book = self.books.get(market)
        if book is None:
            raise KeyError(f"no state for market {market!r} yet")
        with localcontext(CONTEXT):
            return book.view()

    def counters(self, market: str) -> dict[tuple[str, tuple], int]:
        return dict(self.books[market].counters)

    # --- writing -------------------------------------------------------------------------------------------

    def apply(self, event: Event) -> Outcome:
        handler = self._HANDLERS.get(type(event))
        if handler is None:
            raise InvalidEvent(f"type: unsupported event {type(event).__name__}")
        step = _Step()
        outer = getcontext()
        self._check_jump(event.t)  # before anything changes
        if outer is CONTEXT:  # already ours (a host calling in a loop that set it): nothing to set or restore
            decision = handler(self, event, step)
        else:
            setcontext(CONTEXT)  # 60 significant digits: sums of 1e15-sized positions at fine steps stay exact
            try:
                decision = handler(self, event, step)
            finally:
                setcontext(outer)
        self.clock_settable = False
        books = self.books
        changed = tuple([m for m, before in step.items() if books[m].state_key() != before])
        return Outcome(changed, tuple(step), decision)

    # --- handlers: validate everything first, then mutate ------------------------------------------------------

    def _market_config(self, market: str) -> MarketConfig:
        book = self.books.get(market)
        if book is not None:
            return book.config
        try:
            return self.config.market(market)
        except UnknownMarket as exc:
            raise InvalidEvent(str(exc)) from None

    def _book(self, config: MarketConfig, step: _Step) -> MarketBook:
        book = self.books.get(config.name)
        if book is None:
            book = self._add_book(MarketBook(config))
        return step.touch(book)

    def _add_book(self, book: MarketBook) -> MarketBook:
        self.books[book.config.name] = book
        if book.ledger is not None:
            self.ledgers.append((book, book.ledger))
        return book

    def _ledger_fills(self, trade_id: str, order_id: str | None, step: _Step) -> list[tuple[SettlementLedger, FillKey]]:
        """The fills of a trade (of one order of it, if named) that a settlement ledger records, pending or not;
        their books are touched."""
        out = []
        for book, ledger in self.ledgers:
            keys = ledger.keys(trade_id, order_id)
            if keys:
                step.touch(book)
                out += [(ledger, key) for key in keys]
        return out

    def _check_jump(self, t: Decimal) -> None:
        """Validation for ``_advance``, before anything changes: a ``t`` further ahead of the clock than
        ``max_clock_jump_s`` (a timestamp in milliseconds, say) is rejected, not adopted. The first event of a fresh
        guard (clock still 0) sets the clock. A function of the persisted clock only, so replaying the journal,
        from any checkpoint or from the start, accepts exactly what was accepted."""
        limit = self.config.max_clock_jump_s
        if limit is None or self.clock == 0 or self.clock_settable:
            return
        ahead = CONTEXT.subtract(t, self.clock)
        if ahead > limit:
            raise InvalidEvent(
                f"t: {fmt(t)} is {fmt(ahead)} s ahead of the guard's clock {fmt(self.clock)}, more than "
                f"max_clock_jump_s ({fmt(limit)}); a timestamp in milliseconds? (after a real stop that long, raise "
                "max_clock_jump_s or set it to null for one start)"
            )

    def _advance(self, t: Decimal) -> Decimal:
        """The guard's clock never runs backwards: an event stamped earlier happens 'now'."""
        if t > self.clock:
            self.clock = t
        return self.clock

    @staticmethod
    def _quantity(config: MarketConfig, value: Decimal) -> Decimal:
        """A fill's or an order's size on the step grid, rounded up: a buy then never counts less exposure than it
        has, a sell never leaves more to sell than there is, and a dust fill still counts (as one step)."""
        return quantize(value, config.size_increment, ROUND_UP)

    def _fill(self, event: Fill, step: _Step) -> None:
        config = self._market_config(event.market)
        gross = self._quantity(config, event.size)
        if event.fee_base:  # the position moves by size - fee (buy) / size + fee (sell)
            net = event.size - event.fee_base if event.side == "buy" else event.size + event.fee_base
            amount = self._quantity(config, net) if net > 0 else ZERO
        else:
            amount = gross
        if amount <= 0:
            raise InvalidEvent(f"fee_base: {fmt(event.fee_base)} is not below the fill size {fmt(event.size)}")
        order = self.orders.get(event.order_id) if event.order_id else None
        if order is not None and (order.market != event.market or order.side != event.side):
            raise InvalidEvent(
                f"order_id: order {event.order_id!r} is a {order.side} in {order.market!r}, "
                f"but the fill is a {event.side} in {event.market!r}"
            )
        key = event.key
        now = self._advance(event.t)
        book = self._book(config, step)
        book.clock = now
        seen_key = (event.market, *key)
        if seen_key in self.seen_fills or key in book.pending:
            book.bump("duplicate_fills")
            return
        if key[0] in self.failed_trades:
            book.bump("fills_failed")
            log.warning("%s: ignored a fill of trade %s, which the venue already reported failed", book.config.name,
                        key[0])
            return
        self.seen_fills.add(seen_key)
        fill = book.pending.add(key, event.side, amount, now, book.last_as_of, config.settlement == "instant")
        if book.ledger is not None:
            book.ledger.fill(key, now, fill.signed)
        self.trade_fills.setdefault(key[0], []).append((event.market, key))
        book.bump_one("fills", "side", event.side)
        if order is not None:
            fill.reserved = self._move_reservation(order, book, -min(order.remaining, gross))
            book.pending.hold(fill)
        notice = self.early_notices.get(key[0])
        if notice is not None and notice[1] in (None, key[1]):
            book.pending.settle(fill, notice[0])
            if book.ledger is not None:
                book.ledger.notice(key, notice[0])
            if notice[1] is not None:
                del self.early_notices[key[0]]

    def _move_reservation(self, order: Order, book: MarketBook, delta: Decimal) -> Decimal:
        """Change an open order's remaining size (and its side's sum) by ``delta``; return how much it shrank."""
        order.remaining += delta
        if order.side == "buy":
            book.open_buy_reservations += delta
        else:
            book.open_sell_reservations += delta
        return -delta

    def _unsettled_exit(self, book: MarketBook, fill: PendingFill) -> None:
        """A fill left without a snapshot showing it (aged out, failed, cleared): give back what it took from its
        order's reservation while the order is open — a phantom fill must not leave the order under-reserved."""
        self._forget_trade(book.config.name, fill)
        order = self.orders.get(fill.key[1]) if fill.reserved else None
        if order is not None and order.market == book.config.name:
            self._move_reservation(order, book, fill.reserved)

    def _snapshot(self, event: Snapshot, step: _Step) -> None:
        config = self._market_config(event.market)
        size = self._position(config, event.size)
        as_of = event.t if event.as_of is None else min(event.as_of, event.t)  # a venue clock ahead is "now"
        now = self._advance(event.t)
        book = self._book(config, step)
        book.clock = now
        if book.last_as_of is not None and as_of < book.last_as_of:
            book.bump("out_of_order_snapshots")
            log.info("%s: out-of-order snapshot ignored (as_of %s < last applied %s)", config.name, as_of,
                     book.last_as_of)
            return
        first = book.confirmed_at is None
        move = size - book.confirmed
        book.confirmed = size
        book.confirmed_at = as_of
        book.last_as_of = as_of
        instant = config.settlement == "instant"
        if book.ledger is not None:
            book.ledger.snapshot(as_of, size)
        if first:  # the first snapshot includes whatever was held before the guard started: an anchor
            self._exits(book, book.pending.first_snapshot(as_of, config.pending_fill_max_age_s, instant), as_of)
            return
        suspects, anchor = book.pending.free.suspect_count, book.pending.anchor_as_of
        self._decide_undecided(book, as_of)
        result = book.pending.reconcile(move, as_of, config.pending_fill_max_age_s, instant,
                                        config.reconcile_max_candidates, config.reconcile_max_steps,
                                        None if instant else config.settlement_notice_max_delay_s)
        self._exits(book, result.exits, as_of)
        if instant and (result.mismatch or book.pending.free.suspect_count > suspects
                        or any(how == "aged_out" for _, how in result.exits)):
            self._pause_instant_credit(book, f"the snapshot at as_of {fmt(as_of)} does not show a fill that "
                                             "arrived before it")
        elif instant and (delay := config.fill_message_max_delay_s) is not None and anchor is not None and any(
                how in ("identity", "sums") and anchor < fill.arrived <= anchor + delay for fill, how in result.exits):
            # A fill whose message came within fill_message_max_delay_s after the anchor may be inside the anchor
            # (which unexplained does not count): this snapshot's move may be a fill still on its way instead. The
            # first snapshot taken once every such fill has arrived says which (a mismatch if it was the other).
            book.instant_doubt_as_of = as_of + delay
        if result.mismatch:
            if book.ledger is not None:  # (the moves up to this one are not all settlements)
                book.ledger.restart(as_of)
            book.bump("settlement_mismatches")
            log.info("%s: snapshot move %s at as_of %s is not explained by the pending fills (a stale answer, a "
                     "phantom or a fill still on its way)", config.name, fmt(move), fmt(as_of))
        if result.capped:
            book.bump("reconcile_capped")
        if result.fallback is not None:
            book.bump_one("reconcile_fallbacks", "reason", result.fallback)
            if book.last_fallback != result.fallback:  # say it once, not at every snapshot of a busy book
                log.warning(
                    "%s: reconciliation fell back to the safe rule (%s): %d pending fills held in conservative "
                    "exposure until a snapshot shows them, their trade settles or fails, or they age out",
                    config.name, result.fallback, book.pending.anchored_count,
                )
            book.last_fallback = result.fallback
        else:
            book.last_fallback = None

    @staticmethod
    def _decide_undecided(book: MarketBook, as_of: Decimal) -> None:
        """Before a snapshot's move: the undecided fills behind the slack that a report (settled, failed) or the
        settlement ledger now decides (see ledger.py), once every fill that could have settled beside one has had
        its window and notice delay; one still undecided three windows after it arrived is no longer tried (it
        stays in the slack)."""
        ledger, pending, config = book.ledger, book.pending, book.config
        if ledger is None or not pending.undecided:
            return
        window = config.pending_fill_max_age_s
        ripe = DECIDE_AFTER_WINDOWS * window + ledger.delay
        for key, fill in list(pending.undecided.items()):
            real = ledger.reported(key)
            if real is None:
                if as_of < fill.arrived + ripe:
                    continue
                real = ledger.decide(key, config.size_increment, config.reconcile_max_candidates,
                                     config.reconcile_max_steps)
            if real is None:
                if as_of > fill.arrived + DECIDE_UNTIL_WINDOWS * window:
                    del pending.undecided[key]  # (forgotten, not decided: it stays in the slack's bounds)
                continue
            if pending.decide_undecided(key, real) is not None:
                book.bump("undecided_fills_decided", result="real" if real else "phantom")
                log.info("%s: the %s fill %s (trade %s) that left undecided was %s", config.name, fill.side,
                         fmt(fill.amount), key[0], "real" if real else "a phantom")

    @staticmethod
    def _pause_instant_credit(book: MarketBook, why: str) -> None:
        """The venue contradicted its instant settlement: no exact credit for instant_credit_pause_s."""
        until = book.clock + book.config.instant_credit_pause_s
        paused = book.instant_credit_paused_until
        if paused is None or paused <= book.clock:
            log.warning("%s: the venue contradicted its instant settlement (%s): pending fills are not credited "
                        "until %s (instant_credit_pause_s %s)", book.config.name, why, fmt(until),
                        fmt(book.config.instant_credit_pause_s))
        book.instant_credit_paused_until = until

    def _exits(self, book: MarketBook, exits: list[Exit], as_of: Decimal) -> None:
        name = book.config.name
        for fill, how in exits:
            if how == "aged_out":
                self._unsettled_exit(book, fill)
                book.bump("fills_aged_out")
                log.warning(
                    "%s: aged out pending %s fill %s (trade %s, order %s): a snapshot taken %ss after it arrived "
                    "does not show it", name, fill.side, fmt(fill.amount), fill.key[0], fill.key[1] or "-",
                    fmt(as_of - fill.arrived),
                )
            else:
                if how == "at_anchor":  # real and inside the anchor, or a phantom: the order is reserved as before
                    self._unsettled_exit(book, fill)
                    how = "identity"
                else:
                    self._forget_trade(name, fill)
                book.bump_one("fills_confirmed", "how", how)
                book.observe_confirmation(max(ZERO, book.clock - fill.arrived))
            self.done_trades.add(fill.key[0])

    def _position(self, config: MarketConfig, value: Decimal) -> Decimal:
        size = quantize(value, config.size_increment)
        if size < 0 and not config.allow_negative_position:
            raise InvalidEvent(
                f"size: negative position {fmt(value)} in {config.name!r} (set allow_negative_position for perpetuals)"
            )
        return size

    def _force_reconcile(self, event: ForceReconcile, step: _Step) -> None:
        config = self._market_config(event.market)
        size = self._position(config, event.size)
        now = self._advance(event.t)
        book = self._book(config, step)
        book.clock = now
        as_of = min(event.t, now)  # like a snapshot's: an event stamped earlier holds the API's answer of then
        effective = book.effective
        gap = abs(effective - size)
        book.confirmed = size
        book.confirmed_at = as_of
        if book.ledger is not None:
            book.ledger.snapshot(as_of, size)
        self._exits(book, book.pending.force_reconcile(as_of, config.pending_fill_max_age_s,
                                                       config.settlement == "instant"), as_of)
        level = logging.ERROR if gap > config.force_reconcile_error_gap else logging.INFO
        log.log(
            level,
            "%s: force reconcile (%s): effective %s, API %s, gap %s (error above %s); %d pending fills held (buys "
            "%s, sells %s) in the bounds until a snapshot shows them, their trade settles or fails, or they age out",
            config.name, event.reason, fmt(effective), fmt(size), fmt(gap), fmt(config.force_reconcile_error_gap),
            book.pending.anchored_count, fmt(book.pending.anchored_buys), fmt(book.pending.anchored_sells),
        )
        if book.last_as_of is None or as_of > book.last_as_of:
            book.last_as_of = as_of
        book.force_reconcile_gap = gap
        book.bump("force_reconciles", reason=event.reason)

    def _order_open(self, event: OrderOpen, step: _Step) -> None:
        config = self._market_config(event.market)
        size = self._quantity(config, event.size)
        existing = self.orders.get(event.order_id)
        if existing is not None and (existing.market, existing.side) != (event.market, event.side):
            raise InvalidEvent(f"order_id: order {event.order_id!r} is already open as a {existing.side} in "
                               f"{existing.market!r}")
        now = self._advance(event.t)
        book = self._book(config, step)
        book.clock = now
        if existing is not None or event.order_id in self.closed_orders:
            return  # a re-delivered creation: the reservation already counts (or the order is already closed)
        self.orders[event.order_id] = Order(event.market, event.side, size)
        if event.side == "buy":
            book.open_buy_reservations += size
        else:
            book.open_sell_reservations += size

    def _order_closed(self, event: OrderClosed, step: _Step) -> None:
        now = self._advance(event.t)
        order = self.orders.pop(event.order_id, None)
        self.closed_orders.add(event.order_id)
        if order is None:
            return  # unknown or already closed: closing is idempotent
        book = self._book(self.books[order.market].config, step)
        book.clock = now
        book.pending.order_closed(event.order_id)  # (its pending fills hold no reservation any more)
        if order.side == "buy":
            book.open_buy_reservations -= order.remaining
        else:
            book.open_sell_reservations -= order.remaining

    def _check(self, event: Check, step: _Step) -> Decision:
        config = self._market_config(event.market)
        size = round_down(event.size, config.size_increment)
        if size <= 0:
            raise InvalidEvent(f"size: {fmt(event.size)} is below the size_increment {fmt(config.size_increment)}")
        now = self._advance(event.t)
        book = self._book(config, step)
        book.clock = now
        decision = decide(book, event.side, size, now)
        book.bump_one("orders_checked", "side", event.side)
        if not decision.allowed:
            assert decision.reason is not None  # the gate names every block
            book.bump("orders_blocked", side=event.side, reason=decision.reason)
        elif decision.resized:
            book.bump("orders_resized", side=event.side)
        return decision

    def _order_blocked(self, event: OrderBlocked, step: _Step) -> Decision:
        """The host blocked an order without a check: counted with the gate's blocks (the host logged it)."""
        book = self._book(self._market_config(event.market), step)
        book.clock = self._advance(event.t)
        book.bump("orders_blocked", side=event.side, reason=event.reason)
        return Decision(False, book.pending.zero, event.reason)

    def _tick(self, event: Tick, step: _Step) -> None:
        now = self._advance(event.t)
        for book in self.books.values():  # every market's clock moves: its state rows show the guard is alive
            step.touch(book)
            book.clock = now

    def _trade_failed(self, event: TradeFailed, step: _Step) -> None:
        now = self._advance(event.t)
        self.failed_trades.add(event.trade_id)
        self.early_notices.pop(event.trade_id, None)
        for ledger, key in self._ledger_fills(event.trade_id, None, step):
            ledger.failed(key)
        for market, key in self.trade_fills.pop(event.trade_id, []):
            book = step.touch(self.books[market])
            book.clock = now
            fill = book.pending.remove(key)
            if fill is None:
                continue
            self._unsettled_exit(book, fill)
            book.bump("fills_failed")
            level, after = logging.WARNING, ""
            if fill.settled_at is not None:
                level = logging.ERROR
                after = f" after reporting it settled at {fmt(fill.settled_at)} (the later report wins)"
            log.log(level, "%s: dropped pending %s fill %s (trade %s, order %s): the venue reported the trade failed%s",
                    market, fill.side, fmt(fill.amount), key[0], key[1] or "-", after)
            if book.instant:
                self._pause_instant_credit(book, f"trade {key[0]} failed")
            self._remember(self.failed_fills, event.trade_id, []).append((market, key, fill.side, fill.amount))

    def _fill_settled(self, event: FillSettled, step: _Step) -> None:
        now = self._advance(event.t)
        trade_id, order_id = event.trade_id, event.order_id
        for ledger, key in self._ledger_fills(trade_id, order_id, step):  # pending, left the book, or failed
            ledger.notice(key, now)
        entries = [(m, k) for m, k in self.trade_fills.get(trade_id, ()) if order_id in (None, k[1])]
        if entries:
            for market, key in entries:
                book = step.touch(self.books[market])
                book.clock = now
                fill = book.pending.get(key)
                if fill is not None and fill.settled_at is None:
                    book.pending.settle(fill, now)
                    book.bump("settlement_notices", result="applied")
                    config, as_of = book.config, book.last_as_of
                    delay = config.settlement_notice_max_delay_s
                    if not book.instant and delay is not None and as_of is not None and now > as_of + delay:
                        self._exits(book, book.pending.settled_after_snapshot(
                            fill, as_of, config.pending_fill_max_age_s, config.reconcile_max_candidates,
                            config.reconcile_max_steps), as_of)
            return
        if trade_id in self.failed_trades:
            self.failed_trades.discard(trade_id)
            revived = [r for r in self.failed_fills.pop(trade_id, []) if order_id in (None, r[1][1])]
            log.error("trade %s: the venue reported it settled after reporting it failed; the later report wins "
                      "(%d fills counted again)", trade_id, len(revived))
            for market, key, side, amount in revived:
                book = step.touch(self.books[market])
                book.clock = now
                fill = book.pending.add(key, side, amount, now, book.last_as_of, book.config.settlement == "instant")
                book.pending.settle(fill, now)
                self.trade_fills.setdefault(trade_id, []).append((market, key))
                book.bump("settlement_notices", result="after_failure")
            return
        first = next(iter(self.books.values()), None)  # a notice names no market: counted in the first one
        if first is not None:
            result = "unmatched" if trade_id in self.done_trades else "early"
            step.touch(first).bump("settlement_notices", result=result)
        if trade_id not in self.done_trades:
            self._remember(self.early_notices, trade_id, (now, order_id))

    def _remember(self, memory: OrderedDict, key: str, value):
        """Put ``value`` under ``key`` in a bounded FIFO memory (seen_fill_keys_max entries); return what is there."""
        if key not in memory:
            memory[key] = value
            while len(memory) > self.config.seen_fill_keys_max:
                memory.popitem(last=False)
        return memory[key]

    def _halt(self, event: Halt, step: _Step) -> None:
        config = self._market_config(event.market)
        book = self._book(config, step)
        book.clock = self._advance(event.t)
        book.halted_reason = event.reason
        log.error("%s: halted, buys blocked: %s", config.name, event.reason)

    def _resume(self, event: Resume, step: _Step) -> None:
        config = self._market_config(event.market)
        book = self._book(config, step)
        book.clock = self._advance(event.t)
        if book.halted_reason is not None:
            log.warning("%s: resumed (was halted: %s)", config.name, book.halted_reason)
        book.halted_reason = None

    # --- bookkeeping -----------------------------------------------------------------------------------------

    def _forget_trade(self, market: str, fill: PendingFill) -> None:
        entries = self.trade_fills.get(fill.key[0])
        if entries is None:
            return
        try:
            entries.remove((market, fill.key))
        except ValueError:
            return
        if not entries:
            del self.trade_fills[fill.key[0]]

    _HANDLERS: ClassVar[dict[type, Callable[[Guard, Any, _Step], Decision | None]]] = {
        Fill: _fill,
        Snapshot: _snapshot,
        ForceReconcile: _force_reconcile,
        OrderOpen: _order_open,
        OrderClosed: _order_closed,
        Check: _check,
        OrderBlocked: _order_blocked,
        Tick: _tick,
        TradeFailed: _trade_failed,
        FillSettled: _fill_settled,
        Halt: _halt,
        Resume: _resume,
    }

    # --- persistence (checkpoints) -------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "clock": str(self.clock),
            "markets": {name: book.to_dict() for name, book in self.books.items()},
            "orders": [[oid, o.market, o.side, str(o.remaining)] for oid, o in self.orders.items()],
            "seen_fills": [list(key) for key in self.seen_fills.order],
            "failed_trades": list(self.failed_trades.order),
            "closed_orders": list(self.closed_orders.order),
            "done_trades": list(self.done_trades.order),
            "early_notices": [[tid, str(t), oid] for tid, (t, oid) in self.early_notices.items()],
            "failed_fills": [[tid, [[m, list(k), side, str(a)] for m, k, side, a in rows]]
                             for tid, rows in self.failed_fills.items()],
        }

    @classmethod
    def from_dict(cls, config: GuardConfig, data: dict) -> Guard:
        version = data.get("format", 1 if data.keys() >= _FORMAT_1_KEYS else None)
        if version is not None and version != CHECKPOINT_FORMAT:
            raise CheckpointFormat(f"checkpoint format {version!r}, expected {CHECKPOINT_FORMAT}")
        guard = cls(config)
        guard.clock = Decimal(data["clock"])
        for name, book_data in data["markets"].items():
            book = guard._add_book(MarketBook.from_dict(config.market(name), book_data))
            for fill in book.pending:
                guard.trade_fills.setdefault(fill.key[0], []).append((name, fill.key))
        for oid, market, side, remaining in data["orders"]:
            guard.orders[oid] = Order(market, side, Decimal(remaining))
        guard.seen_fills = _BoundedSet(config.seen_fill_keys_max, (tuple(k) for k in data["seen_fills"]))
        guard.failed_trades = _BoundedSet(config.seen_fill_keys_max, data["failed_trades"])
        guard.closed_orders = _BoundedSet(config.seen_fill_keys_max, data["closed_orders"])
        guard.done_trades = _BoundedSet(config.seen_fill_keys_max, data["done_trades"])
        for tid, t, oid in data["early_notices"]:
            guard.early_notices[tid] = (Decimal(t), oid)
        for tid, rows in data["failed_fills"]:
            guard.failed_fills[tid] = [(m, (k[0], k[1]), side, Decimal(a)) for m, k, side, a in rows]
        return guard
