"""One market's book: confirmed position, pending fills, reservation sums, counters. Every read is O(1)."""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from .config import MarketConfig
from .ledger import SettlementLedger
from .numbers import fmt, quantize
from .pending import PendingBook

ZERO = Decimal(0)
# Upper bounds (seconds) of the fill-confirmation histogram (fill arrival -> confirmed by a snapshot); +Inf is implied.
FILL_CONFIRMATION_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)
BUCKET_BOUNDS = tuple(Decimal(str(b)) for b in FILL_CONFIRMATION_BUCKETS)

# The replay contract's STATE fields, in output order.
STATE_FIELDS = (
    "confirmed", "confirmed_at", "effective", "pending_fill_buys", "pending_fill_sells", "pending_fills",
    "open_buy_reservations", "open_sell_reservations", "conservative_exposure", "available_to_sell",
)


@dataclass(frozen=True, slots=True)
class MarketView:
    """A read-only snapshot of one market's numbers."""

    market: str
    connector: str
    confirmed: Decimal
    confirmed_at: Decimal | None
    effective: Decimal
    pending_fill_buys: Decimal
    pending_fill_sells: Decimal
    pending_fills: int
    held_buys: Decimal
    open_buy_reservations: Decimal
    open_sell_reservations: Decimal
    conservative_exposure: Decimal
    available_to_sell: Decimal
    max_position: Decimal
    size_increment: Decimal
    pending_fill_max_age_s: Decimal
    halted: bool
    halted_reason: str | None
    oldest_pending_fill_at: Decimal | None
    oldest_pending_fill_age_s: Decimal
    force_reconcile_gap: Decimal | None
    clock: Decimal

    def to_state(self) -> dict:
        """The replay contract's STATE object (string decimals; pending_fills as a count)."""
        out = {}
        for name in STATE_FIELDS:
            value = getattr(self, name)
            out[name] = value if isinstance(value, int) else fmt(value)
        return out


_ONE_LABEL: dict[tuple[str, str, str], tuple[str, tuple]] = {}


def _counter_key(name: str, labels: dict[str, str]) -> tuple[str, tuple]:
    """(name, sorted label pairs): the counters' key, and the journal's labels column."""
    return (name, tuple(sorted(labels.items())) if len(labels) > 1 else tuple(labels.items()))


class MarketBook:
    def __init__(self, config: MarketConfig) -> None:
        self.config = config
        self.instant = config.settlement == "instant"
        zero = quantize(ZERO, config.size_increment)  # every quantity carries the step's exponent: 0.00, not 0
        self.confirmed = zero
        self.confirmed_at: Decimal | None = None
        self.last_as_of: Decimal | None = None
        self.pending = PendingBook(zero, config.size_increment)
        # delayed venues with a status feed whose delay is known: what the snapshots say about fills after the fact
        delay = config.settlement_notice_max_delay_s
        self.ledger = (None if self.instant or delay is None
                       else SettlementLedger(config.pending_fill_max_age_s, delay))
        self.open_buy_reservations = zero
        self.open_sell_reservations = zero
        self.halted_reason: str | None = None
        self.clock = ZERO
        self.force_reconcile_gap: Decimal | None = None
        # instant venues: the venue contradicted its instant settlement; the exact credit waits until this time
        self.instant_credit_paused_until: Decimal | None = None
        # instant venues: no exact credit until a snapshot whose as_of is past this is applied (see instant_exact)
        self.instant_doubt_as_of: Decimal | None = None
        self.last_fallback: str | None = None  # the previous snapshot's fallback (for logging; not journaled)
        self.counters: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self.histogram = [0] * (len(BUCKET_BOUNDS) + 1)  # per-bucket (not cumulative) counts; last is +Inf
        self.histogram_sum = ZERO

    # --- derived quantities (O(1)) ---------------------------------------------------------------------------

    @property
    def effective(self) -> Decimal:
        """The best estimate: confirmed plus the pending fills the estimate leaves outside it."""
        return self.confirmed + self.pending.pending_fill_buys - self.pending.pending_fill_sells

    @property
    def conservative_exposure(self) -> Decimal:
        """Every pending buy settles, no unsettled sell does: buys the sums prove are inside confirmed
        (``PendingBook.buys_shown``), and sells the venue reported settled that confirmed does not include yet, are
        the only credits; fills past the settlement window add nothing. On an instant venue see ``instant_exact``;
        otherwise no credit there (a snapshot may include fills whose websocket message has not arrived)."""
        p = self.pending
        reserved = self.open_buy_reservations + p.due_reserved_buys
        if self.instant:
            plain = self.confirmed + p.live_buys + reserved
            if not self.instant_exact:
                return plain
            credit = p.free.late_sells + p.unexplained
            exact = self.confirmed + p.all_buys - (credit if credit > 0 else p.zero) + reserved
            return exact if exact < plain else plain
        return self.confirmed + p.live_buys - p.conservative_credit + reserved

    @property
    def available_to_sell(self) -> Decimal:
        """What the account will hold once every pending sell settles, counting only buys known to be outside
        confirmed (a buy that may already be inside it is never credited twice), minus the open sell reservations."""
        p = self.pending
        reserved = self.open_sell_reservations + p.due_reserved_sells
        if self.instant:
            plain = self.confirmed - p.live_sells - reserved
            if not self.instant_exact:
                return plain
            exact = self.confirmed + p.free.late_buys - p.all_sells - p.unexplained - reserved
            return exact if exact > plain else plain
        return self.confirmed + p.sellable - reserved

    @property
    def instant_exact(self) -> bool:
        """Instant venues: every fill settled before its websocket message, so once ``fill_message_max_delay_s`` has
        passed since the last snapshot's as_of every fill inside that snapshot has arrived, and ``unexplained`` is
        exactly the signed sum of the pending ones inside it (a fill still on its way is in its order's
        reservation). Then, whichever they are, the pending fills that arrived after as_of ("late") give both bounds
        exactly: conservative exposure = confirmed + every pending buy - (late sells + unexplained), available to
        sell = confirmed + late buys - every pending sell - unexplained (each with the reservations; a fill that
        arrived before as_of and is still pending is inside if real, so it is credited on neither side). Not while
        fills are anchored, after an unexplained move, or while the venue has lately contradicted its instant
        settlement (``instant_credit_pause_s``): a phantom sell would be credited like a settled one; nor, after a
        snapshot confirmed a fill whose message came within the delay after the anchor (it may be inside the
        anchor), until a snapshot taken once every fill inside that one has arrived (``instant_doubt_as_of``)."""
        config, p = self.config, self.pending
        delay, as_of, paused = config.fill_message_max_delay_s, self.last_as_of, self.instant_credit_paused_until
        if delay is None or as_of is None or not p.verified or p.anchored_count or self.clock <= as_of + delay:
            return False
        if paused is not None and self.clock < paused:
            return False
        if self.instant_doubt_as_of is not None and as_of <= self.instant_doubt_as_of:
            return False
        # A fill that arrived within the delay after the anchor may be inside the anchor, which unexplained does not
        # count: none may be pending (with nothing anchored, the oldest pending fill is the first after the anchor).
        oldest, anchor = p.oldest(), p.anchor_as_of
        return oldest is None or anchor is None or oldest.arrived > anchor + delay

    @property
    def pending_fills(self) -> int:
        """Pending fills as the state shows them: those the estimate leaves outside confirmed."""
        return self.pending.pending_fills

    def view(self) -> MarketView:
        """Quantities are exact multiples of the size step, carried at its exponent (sums of quantized values)."""
        oldest = self.pending.oldest()
        return MarketView(
            market=self.config.name,
            connector=self.config.connector,
            confirmed=self.confirmed,
            confirmed_at=self.confirmed_at,
            effective=self.effective,
            pending_fill_buys=self.pending.pending_fill_buys,
            pending_fill_sells=self.pending.pending_fill_sells,
            pending_fills=self.pending_fills,
            held_buys=self.pending.held_buys,
            open_buy_reservations=self.open_buy_reservations,
            open_sell_reservations=self.open_sell_reservations,
            conservative_exposure=self.conservative_exposure,
            available_to_sell=self.available_to_sell,
            max_position=self.config.max_position,
            size_increment=self.config.size_increment,
            pending_fill_max_age_s=self.config.pending_fill_max_age_s,
            halted=self.halted_reason is not None,
            halted_reason=self.halted_reason,
            oldest_pending_fill_at=None if oldest is None else oldest.arrived,
            oldest_pending_fill_age_s=ZERO if oldest is None else max(ZERO, self.clock - oldest.arrived),
            force_reconcile_gap=self.force_reconcile_gap,
            clock=self.clock,
        )

    def state_key(self) -> tuple:
        """Everything the replay contract's STATE is derived from (raw running sums: cheap to take twice per event)."""
        p, f = self.pending, self.pending.free
        return (
            self.confirmed, self.confirmed_at, self.open_buy_reservations, self.open_sell_reservations, p.all_buys,
            p.all_sells, p.anchored_buys, p.anchored_sells, p.due_buys, p.due_sells, p.unexplained, p.verified,
            f.out_buys, f.out_sells, f.likely_buys, f.likely_sells, f.suspect_buys, f.suspect_sells,
            f.settled_out_sells, f.count, f.likely_count, f.suspect_count, p.proven,
            self.instant and self.instant_exact,  # (instant venues: time alone can make the bounds exact)
        )

    # --- counters ------------------------------------------------------------------------------------------

    def bump(self, name: str, amount: int = 1, **labels: str) -> tuple[str, tuple]:
        key = (name, tuple(labels.items())) if len(labels) < 2 else _counter_key(name, labels)
        self.counters[key] += amount
        return key

    def bump_one(self, name: str, label: str, value: str) -> None:
        """``bump(name, **{label: value})`` without building the key each time (the per-event counters)."""
        key = _ONE_LABEL.get((name, label, value))
        if key is None:
            key = _ONE_LABEL[(name, label, value)] = (name, ((label, value),))
        self.counters[key] += 1

    def count(self, name: str, **labels: str) -> int:
        return self.counters[_counter_key(name, labels)]

    def total(self, name: str) -> int:
        """A counter summed over all its label sets."""
        return sum(n for (counter, _labels), n in self.counters.items() if counter == name)

    def observe_confirmation(self, seconds: Decimal) -> None:
        self.histogram[bisect.bisect_left(BUCKET_BOUNDS, seconds)] += 1  # le-buckets; past the last: +Inf
        self.histogram_sum += seconds

    def histogram_cumulative(self) -> list[tuple[str, int]]:
        out, running = [], 0
        for bound, n in zip((*FILL_CONFIRMATION_BUCKETS, "+Inf"), self.histogram, strict=True):
            running += n
            out.append((str(bound), running))
        return out

    # --- persistence -------------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "confirmed": str(self.confirmed),
            "confirmed_at": fmt(self.confirmed_at),
            "last_as_of": fmt(self.last_as_of),
            "pending": self.pending.to_dict(),
            "ledger": None if self.ledger is None else self.ledger.to_dict(),
            "open_buy_reservations": str(self.open_buy_reservations),
            "open_sell_reservations": str(self.open_sell_reservations),
            "halted_reason": self.halted_reason,
            "clock": str(self.clock),
            "force_reconcile_gap": fmt(self.force_reconcile_gap),
            "instant_credit_paused_until": fmt(self.instant_credit_paused_until),
            "instant_doubt_as_of": fmt(self.instant_doubt_as_of),
            "counters": [[name, list(map(list, labels)), n] for (name, labels), n in self.counters.items()],
            "histogram": self.histogram,
            "histogram_sum": str(self.histogram_sum),
        }

    @classmethod
    def from_dict(cls, config: MarketConfig, data: dict) -> MarketBook:
        book = cls(config)
        opt = lambda v: None if v is None else Decimal(v)  # noqa: E731
        book.confirmed = Decimal(data["confirmed"])
        book.confirmed_at = opt(data["confirmed_at"])
        book.last_as_of = opt(data["last_as_of"])
        ledger = data["ledger"]
        if book.ledger is not None and ledger is not None:
            book.ledger = SettlementLedger.from_dict(ledger, book.ledger.window, book.ledger.delay)
        book.pending = PendingBook.from_dict(data["pending"], book.pending.zero, config.size_increment,
                                             book.last_as_of)
        book.open_buy_reservations = Decimal(data["open_buy_reservations"])
        book.open_sell_reservations = Decimal(data["open_sell_reservations"])
        book.halted_reason = data["halted_reason"]
        book.clock = Decimal(data["clock"])
        if book.ledger is not None and ledger is None:  # (the config asks for one now: it starts from here)
            book.ledger.start = book.clock
        book.force_reconcile_gap = opt(data["force_reconcile_gap"])
        book.instant_credit_paused_until = opt(data["instant_credit_paused_until"])
        book.instant_doubt_as_of = opt(data["instant_doubt_as_of"])
        for name, labels, n in data["counters"]:
            book.counters[(name, tuple(tuple(pair) for pair in labels))] = n
        book.histogram = list(data["histogram"])
        book.histogram_sum = Decimal(data["histogram_sum"])
        return book
