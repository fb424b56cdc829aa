"""Property tests of the settlement-aware rules: a simulated venue per regime (instant, delayed, delayed with a
settlement window just above its longest delay, delayed with a status feed), with phantom fills, lagged and
out-of-order snapshots, websocket delivery later than the REST answer, duplicates, failures, restarts inserted
anywhere and bad lines. After every event:

* conservative exposure >= the true exposure (settled + matched-unsettled real buys + open buy orders);
* available to sell <= what the account will hold once every real trade settles, minus open sell orders, plus the
  documented credit of pending phantom buys;
* the venue's true exposure never passes the limit;
* a guard restarted from its checkpoint anywhere gives the same state as one that never restarted;
* a rejected line changes nothing.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal as D
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from inventory_guard import pending
from inventory_guard.config import parse_config
from inventory_guard.core import Guard
from inventory_guard.events import (
    Check,
    Fill,
    FillSettled,
    ForceReconcile,
    InvalidEvent,
    OrderClosed,
    OrderOpen,
    Side,
    Snapshot,
    TradeFailed,
)
from inventory_guard.ledger import SettlementLedger

M = "m"
LIMIT = D(40)
AGE_OUT = D(30)
TIGHT_AGE_OUT = D(21)  # "tight": just above the longest settlement delay (20 s after the message), so fills pass
# the window about when they settle — often inside the first snapshot that shows them, past the window already
# "single" and "feed_single": the chain of snapshots off (the single sum decides every snapshot), a window of 6 s
# and delays of at most 5 s, so that ambiguous fills pass the window often and leave undecided (the slack)
# "feed_bound_single": the same, with the notice delay known (1 s): the settlement ledger decides undecided fills
SINGLE_AGE_OUT = D(6)
AGE_OUTS = {"tight": TIGHT_AGE_OUT, "single": SINGLE_AGE_OUT, "feed_single": SINGLE_AGE_OUT,
            "feed_bound_single": SINGLE_AGE_OUT}
REGIMES = ["instant", "delayed", "tight", "feed", "feed_bound", "single", "feed_single", "feed_bound_single"]


@dataclass
class Trade:
    trade_id: str
    order_id: str | None
    side: Side
    size: D
    matched: D
    delivered_at: D  # when its websocket message arrives
    settles_at: D | None  # None: a phantom, never settles
    notice_at: D | None = None  # fill_settled (or trade_failed for a phantom); None: never reported
    completes_order: bool = False  # its order is filled: the order's "completed" message follows the fill
    delivered: bool = False
    settled: bool = False
    noticed: bool = False

    @property
    def signed(self) -> D:
        return self.size if self.side == "buy" else -self.size


@dataclass
class Venue:
    regime: str
    now: D = D(0)
    settled: D = D(0)
    history: list = field(default_factory=lambda: [(D(0), D(0))])
    trades: list = field(default_factory=list)
    orders: dict = field(default_factory=dict)  # order_id -> [side, remaining at the venue]
    next_id: int = 0

    def settled_as_of(self, as_of: D) -> D:
        value = D(0)
        for t, v in self.history:
            if t <= as_of:
                value = v
        return value

    def true_exposure(self) -> D:
        unsettled = sum((t.size for t in self.trades if t.side == "buy" and not t.settled and t.settles_at is not None),
                        D(0))
        return self.settled + unsettled + sum((r for s, r in self.orders.values() if s == "buy"), D(0))

    def will_hold(self) -> D:
        """Once every real trade settles, minus open sell orders."""
        unsettled = sum((t.signed for t in self.trades if not t.settled and t.settles_at is not None), D(0))
        return self.settled + unsettled - sum((r for s, r in self.orders.values() if s == "sell"), D(0))


class Harness:
    def __init__(self, regime: str) -> None:
        self.config = parse_config({
            "max_position": str(LIMIT), "size_increment": "1",
            "pending_fill_max_age_s": str(AGE_OUTS.get(regime, AGE_OUT)),
            "allow_negative_position": True, "settlement": "instant" if regime == "instant" else "delayed",
            "settlement_notice_max_delay_s": "1" if regime.startswith("feed_bound") else None,
        })
        self.guard = Guard(self.config)
        self.shadow = Guard(self.config)  # never restarted
        self.v = Venue(regime)
        self.ever_credited: set[str] = set()  # phantom sells an instant venue's exact bounds credited
        self.apply(Snapshot(D(0), M, D(0)))

    def apply(self, event):
        out = self.guard.apply(event)
        shadow = self.shadow.apply(event)
        assert out.decision == shadow.decision
        return out

    def restart(self) -> None:
        self.guard = Guard.from_dict(self.config, json.loads(json.dumps(self.guard.to_dict())))

    def bad_line(self) -> None:
        before = json.dumps(self.guard.to_dict(), sort_keys=True)
        with pytest.raises(InvalidEvent):
            self.guard.apply(Check(self.v.now, M, "buy", D("0.4")))  # below the size step
        assert json.dumps(self.guard.to_dict(), sort_keys=True) == before

    # --- the venue's clock ---------------------------------------------------------------------------------

    def advance(self, dt: D) -> None:
        v = self.v
        target = v.now + dt
        while True:
            for t in v.trades:
                if not t.delivered and t.delivered_at <= v.now:
                    t.delivered = True
                    self.apply(Fill(v.now, M, t.side, t.size, trade_id=t.trade_id, order_id=t.order_id))
                    if t.completes_order:
                        self.apply(OrderClosed(v.now, t.order_id))
                if t.settles_at is not None and not t.settled and t.settles_at <= v.now:
                    t.settled = True
                    v.settled += t.signed
                    v.history.append((v.now, v.settled))
                if t.notice_at is not None and not t.noticed and t.notice_at <= v.now and t.delivered:
                    t.noticed = True
                    if t.settles_at is None:
                        self.apply(TradeFailed(v.now, t.trade_id))
                    else:
                        self.apply(FillSettled(v.now, t.trade_id))
            if v.now >= target:
                return
            v.now = min(target, v.now + D("0.5"))

    def phantom_sells_credited(self) -> set[str]:
        """Instant venue, the documented exception: a fill message is the venue's word that the trade settled, so
        once the bounds are exact (``MarketBook.instant_exact``) a phantom sell that arrived after the last as_of is
        credited like a settled one, until a snapshot after it does not show it; so is one a snapshot took for a
        real sell of the same size whose message came after its as_of (that one is then credited as late)."""
        book = self.guard.books[M]
        horizon = book.last_as_of
        if self.v.regime != "instant" or not book.instant_exact or horizon is None:
            return set()
        out = set()
        for t in self.v.trades:
            if t.settles_at is not None or t.side != "sell" or not t.delivered or t.noticed:
                continue
            fill = book.pending.get((t.trade_id, t.order_id))
            # pending and late; or gone without a failure report: a snapshot took it for a real sell of the same
            # size whose message came later (and is now credited as late)
            if fill is None or fill.arrived > horizon:
                out.add(t.trade_id)
        return out

    def check_bounds(self) -> None:
        state, v = self.guard.state(M), self.v
        assert state == self.shadow.state(M), "a restart changed the state"
        credited = self.phantom_sells_credited()
        self.ever_credited |= credited
        sizes = {t.trade_id: t.size for t in v.trades}
        credit = sum((sizes[i] for i in credited), D(0))
        assert state.conservative_exposure >= v.true_exposure() - credit, (state, v.true_exposure())
        phantom_credit = sum((t.size for t in v.trades if t.settles_at is None and t.side == "buy" and t.delivered),
                             D(0))
        assert state.available_to_sell <= v.will_hold() + phantom_credit, (state, v.will_hold())
        # (buys allowed against a phantom sell's credit stay open after it: at most its size past the limit)
        assert v.true_exposure() <= LIMIT + sum((sizes[i] for i in self.ever_credited), D(0))

    # --- operations ---------------------------------------------------------------------------------------------

    def place(self, side: Side, size: int) -> None:
        v = self.v
        decision = self.apply(Check(v.now, M, side, D(size))).decision
        assert decision is not None  # a check is always answered
        if decision.allowed:
            v.next_id += 1
            oid = f"O{v.next_id}"
            v.orders[oid] = [side, decision.size]
            self.apply(OrderOpen(v.now, M, oid, side, decision.size))

    def match(self, idx: int, part: int, ws_lag: D, delay: D, phantom: bool, reported: bool) -> None:
        v = self.v
        if not v.orders:
            return
        oid = sorted(v.orders)[idx % len(v.orders)]
        side, remaining = v.orders[oid]
        size = min(remaining, D(part))
        completes = False
        if not phantom:  # a phantom never matched: the order keeps its size at the venue
            v.orders[oid][1] -= size
            completes = v.orders[oid][1] == 0
            if completes:
                del v.orders[oid]
        v.next_id += 1
        delivered_at = v.now + ws_lag
        if completes:  # the order's "completed" message comes after every earlier fill of the order
            delivered_at = max([delivered_at] + [t.delivered_at for t in v.trades if t.order_id == oid])
        if phantom:
            settles_at = None
        elif v.regime == "instant":
            settles_at = v.now  # settled at the match, before the websocket message arrives
        elif v.regime.endswith("single"):
            settles_at = delivered_at + min(delay, D(5))
        else:
            settles_at = delivered_at + delay  # after the message arrives, within the settlement window
        notice_at = None
        if reported and v.regime.startswith("feed"):  # (feed_bound: the guard is told the notice's 1 s lag)
            notice_at = (settles_at if settles_at is not None else delivered_at) + D(1)
        elif reported and phantom:
            notice_at = delivered_at + delay
        v.trades.append(Trade(f"T{v.next_id}", oid, side, size, v.now, delivered_at, settles_at, notice_at,
                              completes_order=completes))

    def snapshot(self, lag: D, stale: bool) -> None:
        v = self.v
        as_of = max(D(0), v.now - (D(6) if stale else lag))
        self.apply(Snapshot(v.now, M, v.settled_as_of(as_of), as_of=as_of))

    def duplicate(self, idx: int) -> None:
        delivered = [t for t in self.v.trades if t.delivered]
        if delivered:
            t = delivered[idx % len(delivered)]
            self.apply(Fill(self.v.now, M, t.side, t.size, trade_id=t.trade_id, order_id=t.order_id))

    def cancel(self, idx: int) -> None:
        v = self.v
        if v.orders:
            oid = sorted(v.orders)[idx % len(v.orders)]
            del v.orders[oid]
            for t in v.trades:  # the venue's channel sends an order's fills before its cancel
                if t.order_id == oid and not t.delivered:
                    # ... and each still settles as long after its message as it would have: within the window
                    # (a property-test counter-example: a message pulled in by 2 s put the settlement 7 s after it,
                    # past a 6 s window, and the guard rightly took the fill for a phantom)
                    early = t.delivered_at - v.now
                    t.delivered_at = v.now
                    if t.settles_at is not None and v.regime != "instant":
                        t.settles_at -= early
                    if t.notice_at is not None:
                        t.notice_at = max(v.now, t.notice_at - early)
            self.advance(D(0))
            self.apply(OrderClosed(v.now, oid))


place = st.tuples(st.just("place"), st.sampled_from(["buy", "buy", "sell"]), st.integers(1, 8))
match = st.tuples(st.just("match"), st.integers(0, 9), st.integers(1, 3), st.sampled_from([D(0), D("0.3"), D(2)]),
                  st.sampled_from([D(0), D(1), D(5), D(20)]), st.booleans(), st.booleans())
snapshot = st.tuples(st.just("snapshot"), st.sampled_from([D(0), D("0.2"), D(1), D(3)]), st.booleans())
rare = st.one_of(
    st.tuples(st.just("dup"), st.integers(0, 99)),
    st.tuples(st.just("cancel"), st.integers(0, 9)),
    st.tuples(st.just("reconnect")),
    st.tuples(st.just("restart")),
    st.tuples(st.just("bad")),
)
# Weighted towards small orders, many partial matches and frequent snapshots: coincidental sums (ambiguous moves)
# are what the bounds must survive.
ops = st.one_of(place, match, match, match, snapshot, snapshot, rare)
steps = st.lists(st.tuples(ops, st.sampled_from([D(0), D("0.5"), D(1), D(3)])), min_size=10, max_size=150)


def chain_for(regime: str):
    """The chain of snapshots off in the "single" regimes (it tracks no inside set), as it is when it overflows."""
    return mock.patch.object(pending, "MAX_HYPOTHESES", 0) if regime.endswith("single") else nullcontext()


def run(regime: str, plan) -> Harness:
    with chain_for(regime):
        return _run(regime, plan)


def _run(regime: str, plan) -> Harness:
    h = Harness(regime)
    for op, dt in plan:
        h.advance(dt)
        kind = op[0]
        if kind == "place":
            h.place(op[1], op[2])
        elif kind == "match":
            _, idx, part, lag, delay, phantom, reported = op
            h.match(idx, part, lag, delay, phantom and idx % 4 == 0, reported)  # phantoms: about 1 match in 8
        elif kind == "snapshot":
            h.snapshot(op[1], op[2])
        elif kind == "dup":
            h.duplicate(op[1])
        elif kind == "cancel":
            h.cancel(op[1])
        elif kind == "reconnect":
            h.apply(ForceReconcile(h.v.now, M, h.v.settled, "ws_reconnect"))
        elif kind == "restart":
            h.restart()
        else:
            h.bad_line()
        h.check_bounds()
    return h


@pytest.mark.parametrize("regime", REGIMES)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=steps)
def test_both_bounds_hold_under_any_interleaving(regime, plan):
    run(regime, plan)


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_an_instant_phantom_that_a_late_fill_offsets_keeps_its_orders_reservation(side):
    """Counter-examples the property above found (kept): on an instant venue a phantom fill of 1 (its order still
    open at the venue) and a real opposite fill of 1 whose message came after the snapshot's as_of; the snapshot
    shows neither, and "the phantom is inside and so is the late fill" explains it as well as the truth. Confirming
    the phantom as proven took its order's reservation for good: conservative exposure 1 below the truth (a phantom
    buy) or available to sell 1 above what the account will hold (a phantom sell)."""
    plans = {  # (as hypothesis shrank them)
        "buy": [(("place", "buy", 1), D(0)), (("reconnect",), D(0)), (("place", "sell", 1), D(0)),
                (("match", 0, 1, D(0), D(0), True, False), D(0)), (("place", "buy", 1), D(0)),
                (("match", 1, 1, D(0), D(0), False, False), D("0.5")), (("snapshot", D("0.2"), False), D(0)),
                (("reconnect",), D(0))],
        "sell": [(("place", "buy", 1), D(0)), (("reconnect",), D(0)), (("cancel", 0), D(0)),
                 (("place", "sell", 1), D(0)), (("match", 0, 1, D(0), D(0), True, False), D(0)),
                 (("place", "buy", 1), D(0)), (("place", "buy", 1), D(0)),
                 (("match", 1, 1, D(0), D(0), False, False), D("0.5")), (("snapshot", D("0.2"), False), D(0)),
                 (("reconnect",), D(0))],
    }
    plan = plans[side]
    h = run("instant", plan)
    phantom = [t for t in h.v.trades if t.settles_at is None]
    assert [(t.side, t.size) for t in phantom] == [(side, D(1))]  # (the plan does what the docstring says)


def test_an_instant_fill_whose_message_came_just_after_a_reconcile_is_not_taken_for_the_next_move():
    """Counter-example the property above found (kept): buys of 1 settle at 0 and at 3 on an instant venue, their
    messages 0.3 s (and so 0.5 s, at the next step) later. A force reconcile at 0 includes the first, whose message
    comes after it; the snapshot at 3 includes the second, whose message comes after that. Taking the first for the
    snapshot's +1 (it arrived before that as_of) left the second as a late fill outside it: available to sell 3 for
    an account of 2. Now the exact credit waits for a snapshot past the message delay (the plain bound: 2)."""
    plan = [(("place", "buy", 1), D(0)), (("match", 0, 1, D("0.3"), D(0), False, False), D(0)),
            (("reconnect",), D(0)), (("place", "buy", 1), D(3)), (("match", 0, 1, D("0.3"), D(0), False, False), D(0)),
            (("restart",), D(0)), (("snapshot", D(0), False), D(0)), (("restart",), D(0)), (("restart",), D(0)),
            (("place", "buy", 1), D(3))]
    h = run("instant", plan)
    book = h.guard.books[M]
    assert book.instant_doubt_as_of == D(5) and not book.instant_exact


@pytest.mark.xfail(strict=True, reason="known bug, open: an instant venue's phantom sell whose message came just "
                   "after a force reconcile, beside a real buy that reconcile already showed")
def test_an_instant_phantom_sell_beside_a_buy_a_force_reconcile_showed_keeps_its_orders_reservation():
    """Counter-example the property test_the_position_is_known_exactly_once_the_venue_is_quiet found (kept; present
    in the release before the settlement ledger too): a buy of 1 settles at 0, its message 0.5 s later; a force
    reconcile at 0 shows it; a phantom sell of 1 arrives at 0, its order still open at the venue. The snapshot at 1
    moves 0, which "both inside" explains, and the phantom sell is taken as settled: available to sell 1 for an
    account that will hold 0 once the open sell fills."""
    plan = [(("place", "sell", 1), D(0)), (("reconnect",), D(0)), (("place", "buy", 1), D(0)),
            (("place", "buy", 1), D(0)), (("place", "buy", 1), D(0)),
            (("match", 1, 1, D("0.3"), D(0), False, False), D(0)), (("reconnect",), D(0)), (("dup", 0), D(0)),
            (("match", 0, 1, D(0), D(0), True, False), D(0)), (("snapshot", D(0), False), D(1))]
    run("instant", plan)


# Busy two-sided flow of small fills, a snapshot nearly every step: moves that several subsets explain, with fills
# passing the window while still ambiguous (in the "single" regimes they leave undecided: the slack).
busy_place = st.tuples(st.just("place"), st.sampled_from(["buy", "sell"]), st.integers(1, 4))
busy_match = st.tuples(st.just("match"), st.integers(0, 9), st.integers(1, 2), st.sampled_from([D(0), D("0.3")]),
                       st.sampled_from([D(0), D(1), D(3), D(5)]), st.booleans(), st.booleans())
busy = st.lists(st.tuples(st.one_of(busy_place, busy_place, busy_match, busy_match, busy_match, busy_match, snapshot,
                                    snapshot, rare), st.sampled_from([D("0.5"), D(1)])), min_size=40, max_size=250)


@pytest.mark.parametrize("regime", ["delayed", "tight", "single", "feed_single", "feed_bound_single"])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=busy)
def test_both_bounds_hold_when_ambiguous_fills_pass_the_window(regime, plan):
    run(regime, plan)


# Long runs of small fills, most reported by the status feed, snapshots without stale answers and no reconnect (a
# force reconcile clears the slack): undecided fills live long enough for the settlement ledger to decide them.
ledger_match = st.tuples(st.just("match"), st.integers(0, 9), st.integers(1, 2), st.sampled_from([D(0), D("0.3")]),
                         st.sampled_from([D(0), D(1), D(3), D(5)]), st.booleans(), st.sampled_from([True, True, False]))
ledger_snapshot = st.tuples(st.just("snapshot"), st.sampled_from([D(0), D("0.2"), D(1)]), st.just(False))
ledger_rare = st.one_of(st.tuples(st.just("dup"), st.integers(0, 99)), st.tuples(st.just("cancel"), st.integers(0, 9)),
                        st.tuples(st.just("restart")))
ledger_step = st.tuples(st.one_of(busy_place, busy_place, ledger_match, ledger_match, ledger_match, ledger_snapshot,
                                  ledger_snapshot, ledger_rare), st.sampled_from([D("0.5"), D(1)]))
ledger_plan = st.lists(ledger_step, min_size=60, max_size=300)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=ledger_plan)
def test_the_settlement_ledger_decides_only_what_happened(plan):
    """Every fill the settlement ledger decides (ledger.py) was what it says: real if it settled, a phantom if not;
    and both bounds hold throughout (check_bounds, restarts included)."""
    decided: list[tuple[str, bool]] = []
    original = SettlementLedger.decide

    def decide(self, key, *args):
        real = original(self, key, *args)
        if real is not None:
            decided.append((key[0], real))
        return real

    with chain_for("feed_bound_single"), mock.patch.object(SettlementLedger, "decide", decide):
        h = _run("feed_bound_single", plan)
    truth = {t.trade_id: t.settles_at is not None for t in h.v.trades}
    assert [(trade, real) for trade, real in decided if truth[trade] != real] == []



# Plans the property above generated (shrunk) in which the ledger decides an undecided fill, kept so that it is
# seen doing so: (step, seconds after it).
LEDGER_DECIDES = {
    "real": [(("bad",), D(5)), (("place", "buy", 1), D("0.5")), (("snapshot", D(0), False), D("0.5")),
             (("match", 0, 1, D(0), D(0), False, False), D("0.5")), (("bad",), D(4)), (("place", "buy", 1), D(1)),
             (("match", 0, 1, D(0), D(5), False, True), D(2)), (("bad",), D(3)),
             (("snapshot", D("0.2"), False), D(2)), (("bad",), D("0.5")), (("snapshot", D(0), False), D("0.5"))],
    "phantom": [(("place", "buy", 1), D("0.5"))] * 5 + [
        (("place", "sell", 1), D("0.5")), (("place", "buy", 1), D(1)), (("cancel", 0), D("0.5")),
        (("place", "buy", 1), D(1)), (("snapshot", D(0), False), D("0.5"))] + [(("place", "buy", 1), D(0))] * 4 + [
        (("cancel", 0), D(0)), (("place", "buy", 1), D(0)), (("match", 0, 1, D(0), D(0), True, False), D("0.5")),
        (("place", "buy", 1), D(1)), (("cancel", 0), D("1.5")), (("place", "buy", 1), D("0.5")),
        (("place", "buy", 1), D("0.5")), (("match", 9, 1, D(0), D(3), False, True), D(2)),
        (("snapshot", D(0), False), D("2.5")), (("bad",), D("4.5")), (("snapshot", D(0), False), D("0.5"))],
}


@pytest.mark.parametrize("result", ["real", "phantom"])
@pytest.mark.parametrize("restart_at", [None, 3, 9])
def test_the_settlement_ledger_decides_an_undecided_fill(result, restart_at):
    """An unreported fill leaves the book undecided (its slack in both bounds); snapshots later the ledger decides
    it, counted and with the slack gone, whether or not the guard restarted from its checkpoint in between."""
    plan = list(LEDGER_DECIDES[result])
    if restart_at is not None:
        plan.insert(restart_at, (("restart",), D(0)))
    with chain_for("feed_bound_single"):
        h = _run("feed_bound_single", plan)
    book = h.guard.books[M]
    assert book.count("undecided_fills_decided", result=result) == 1
    assert book.total("undecided_fills_decided") == 1
    assert (book.pending.slack_low, book.pending.slack_high) == (0, 0) and not book.pending.undecided
    truth = {t.trade_id: t.settles_at is not None for t in h.v.trades}
    assert (result == "real") in truth.values()


@pytest.mark.parametrize("regime", REGIMES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=steps)
def test_the_position_is_known_exactly_once_the_venue_is_quiet(regime, plan):
    with chain_for(regime):
        _known_once_quiet(regime, plan)


def _known_once_quiet(regime: str, plan) -> None:
    h = _run(regime, plan)
    v = h.v
    h.advance(D(3))  # every message arrives
    for t in v.trades:  # then every real trade settles
        if t.settles_at is not None:
            t.settles_at = min(t.settles_at, v.now)
            if regime.startswith("feed_bound") and t.notice_at is not None:  # (the notice delay the guard is told)
                t.notice_at = min(t.notice_at, t.settles_at + D(1))
    for _ in range(12):  # then snapshots keep coming for two age-outs: phantoms leave, the rest is confirmed
        h.advance(D(6))
        h.snapshot(D(0), False)
    state = h.guard.state(M)
    assert state.effective == state.confirmed == v.settled
    # (open orders may stay over-reserved by a fill that left unproven: the safe side, released when they close)
    assert (state.pending_fills, state.held_buys) == (0, D(0))
    assert state.conservative_exposure - state.open_buy_reservations == v.settled


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.integers(1, 3), st.integers(0, 3), st.booleans()),
             min_size=1, max_size=12),
    st.randoms(use_true_random=False),
    st.sampled_from(["delayed", "feed"]),
)
def test_no_settlement_order_breaks_either_bound(fills, rnd, regime):
    """Small sizes make coincidental sums common: whichever fills settle, in whatever batches (batch 0 never
    settles: phantoms), after every snapshot conservative exposure >= settled + unsettled real buys, and available
    to sell <= settled + unsettled real fills (+ the documented credit of pending phantom buys). With a status feed,
    some settled trades are reported."""
    guard = Guard(parse_config({"max_position": "1000", "size_increment": "1", "allow_negative_position": True}))
    guard.apply(Snapshot(D(0), M, D(0)))
    for i, (side, size, _batch, _reported) in enumerate(fills):
        guard.apply(Fill(D(1), M, side, D(size), trade_id=f"T{i}"))
    settled, unsettled = D(0), list(enumerate(fills))
    for batch in (1, 2, 3):
        settling = [f for f in unsettled if f[1][2] == batch]
        rnd.shuffle(settling)
        for i, (side, size, _, reported) in settling:
            unsettled.remove((i, (side, size, _, reported)))
            settled += size if side == "buy" else -size
            if regime == "feed" and reported:
                guard.apply(FillSettled(D(1 + batch), f"T{i}"))
        guard.apply(Snapshot(D(1 + batch) + D("0.5"), M, settled))
        state = guard.state(M)
        real = [f[1] for f in unsettled if f[1][2] != 0]
        real_buys = sum((D(s) for side, s, _, _ in real if side == "buy"), D(0))
        real_net = sum((D(s) if side == "buy" else -D(s) for side, s, _, _ in real), D(0))
        phantom_buys = sum((D(f[1][1]) for f in unsettled if f[1][2] == 0 and f[1][0] == "buy"), D(0))
        assert state.conservative_exposure >= settled + real_buys
        assert state.available_to_sell <= settled + real_net + phantom_buys


@settings(max_examples=600, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.integers(1, 3), st.sampled_from([D(0), D("0.2"), D(1)]),
                       st.booleans()), min_size=1, max_size=10),
    st.lists(st.sampled_from([D(0), D("0.1"), D("0.5"), D(1)]), min_size=1, max_size=6),
)
def test_an_instant_venue_with_a_slow_websocket_never_breaks_either_bound(fills, snapshot_gaps):
    """Instant settlement: a fill is inside every snapshot taken after its match, even one answered before its
    websocket message arrives (lag 0-1 s, within the default fill_message_max_delay_s). Phantoms (the flag) never
    settle."""
    guard = Guard(parse_config({"max_position": "1000", "size_increment": "1", "allow_negative_position": True,
                                "settlement": "instant"}))
    guard.apply(Snapshot(D(0), M, D(0)))
    for i, (side, size, _lag, _phantom) in enumerate(fills):  # each fill fills one order: reserved until it arrives
        guard.apply(OrderOpen(D(0), M, f"O{i}", side, D(size)))
    events: list[tuple[D, str, int]] = []  # (at, kind, fill index; -1 for a snapshot)
    t = D(1)
    for i, (_side, _size, lag, phantom) in enumerate(fills):
        t += D("0.3")
        events.append((t + lag, "fill", i))
        if not phantom:
            events.append((t, "settle", i))
    for gap in snapshot_gaps:
        t += gap
        events.append((t, "snapshot", -1))
    events.sort(key=lambda e: (e[0], e[1] != "settle"))
    settled, delivered, done = D(0), set(), set()
    history = [(D(0), D(0))]
    for at, kind, i in events:
        if kind == "settle":
            side, size, _, _ = fills[i]
            settled += size if side == "buy" else -size
            history.append((at, settled))
            done.add(i)
            continue
        if kind == "fill":
            side, size, _, _ = fills[i]
            guard.apply(Fill(at, M, side, D(size), trade_id=f"T{i}", order_id=f"O{i}"))
            guard.apply(OrderClosed(at, f"O{i}"))
            delivered.add(i)
        else:
            guard.apply(Snapshot(at, M, settled, as_of=at))
        state = guard.state(M)
        unsettled_real = [fills[j] for j in delivered if j not in done and not fills[j][3]]
        phantom_buys = sum((D(fills[j][1]) for j in delivered if fills[j][3] and fills[j][0] == "buy"), D(0))
        real_buys = sum((D(s) for side, s, _, _ in unsettled_real if side == "buy"), D(0))
        real_net = sum((D(s) if side == "buy" else -D(s) for side, s, _, _ in unsettled_real), D(0))
        book = guard.books[M]  # the documented exception: phantom sells the exact bounds credit (see the Harness)
        horizon = book.last_as_of if book.instant_exact and book.last_as_of is not None else None
        credited = sum((D(fills[j][1]) for j in delivered if fills[j][3] and fills[j][0] == "sell"
                        and horizon is not None and (fill := book.pending.get((f"T{j}", f"O{j}"))) is not None
                        and fill.arrived > horizon), D(0))
        assert state.conservative_exposure >= settled + real_buys - credited
        # fills not yet delivered but already settled are inside `settled`: what the account will hold
        assert state.available_to_sell <= settled + real_net + phantom_buys


# Counter-examples found by the property test above ("tight", the chain of snapshots on; present in the previous
# release): a phantom buy and a real sell of 1, both held by a re-anchor, pass their window at a snapshot whose move
# either both or neither explain. The hypotheses that differ only in fills past the window are merged into one,
# which held both, so both left as confirmed by sums and the phantom's order lost its reservation while the venue
# still had it open: conservative exposure 1 below the true exposure (the first), available to sell 1 above what the
# account will hold (the second). Now a fill past the window is confirmed only if every hypothesis before the merge
# holds it; otherwise it leaves as at an anchor, its order's reservation given back. The third: a phantom buy past
# the window stays pending, in neither bound (inside confirmed if real), with what it took from its order's
# reservation: the venue still had that size open; now the bounds keep it (PendingBook.due_reserved_buys).
MERGED_AWAY = [
    [(('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'sell', 1), D('0.5')),
    (('match', 0, 1, D('0'), D('0'), False, False),
    D('0.5')),
    (('match', 0, 1, D('0'), D('0'), False, False),
    D('0.5')),
    (('match', 0, 1, D('0'), D('0'), False, False), D('1')),
    (('place', 'buy', 1), D('0.5')),
    (('match', 0, 1, D('0'), D('0'), True, False),
    D('0.5')),
    (('reconnect',), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('1')),
    (('place', 'buy', 1), D('1')),
    (('place', 'buy', 1), D('1')),
    (('place', 'buy', 1), D('1')),
    (('place', 'buy', 1), D('1')),
    (('reconnect',), D('1')),
    (('place', 'buy', 1), D('1')),
    (('dup', 0), D('1')),
    (('dup', 0), D('1')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('1')),
    (('place', 'buy', 1), D('1')),
    (('reconnect',), D('1')),
    (('dup', 0), D('1')),
    (('place', 'buy', 1), D('0.5')),
    (('reconnect',), D('1')),
    (('place', 'buy', 1), D('0.5')),
    (('dup', 0), D('0.5')),
    (('reconnect',), D('1')),
    (('dup', 0), D('0.5')),
    (('dup', 0), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('snapshot', D('0'), False), D('0.5'))],
    [(('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'sell', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('match', 0, 1, D('0'), D('0'), False, False),
    D('0.5')),
    (('match', 0, 1, D('0'), D('0'), False, False),
    D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('match', 0, 1, D('0'), D('0'), True, False),
    D('0.5')),
    (('reconnect',), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('1')),
    (('place', 'buy', 1), D('1')),
    (('place', 'buy', 1), D('1')),
    (('place', 'buy', 1), D('1')),
    (('place', 'buy', 1), D('1')),
    (('reconnect',), D('1')),
    (('place', 'buy', 1), D('1')),
    (('dup', 0), D('1')),
    (('dup', 0), D('1')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('1')),
    (('place', 'buy', 1), D('1')),
    (('reconnect',), D('1')),
    (('dup', 0), D('1')),
    (('place', 'buy', 1), D('0.5')),
    (('reconnect',), D('1')),
    (('place', 'buy', 1), D('0.5')),
    (('dup', 0), D('0.5')),
    (('reconnect',), D('1')),
    (('dup', 0), D('0.5')),
    (('dup', 0), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('snapshot', D('0'), False), D('0.5'))],
    [(('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 3), D('0.5')),
    (('place', 'buy', 3), D('0.5')),
    (('reconnect',), D('0.5')),
    (('cancel', 2), D('0.5')),
    (('cancel', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('snapshot', D('0'), True), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 2), D('0.5')),
    (('place', 'buy', 2), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('reconnect',), D('0.5')),
    (('dup', 96), D('0.5')),
    (('match', 0, 2, D('0'), D('0'), False, False),
    D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'sell', 2), D('0.5')),
    (('match', 0, 1, D('0'), D('0'), False, False),
    D('0.5')),
    (('snapshot', D('0'), False), D('0.5')),
    (('match', 0, 1, D('0'), D('0'), True, False),
    D('0.5')),
    (('match', 8, 2, D('0'), D('0'), True, False),
    D('0.5')),
    (('reconnect',), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('place', 'buy', 3), D('0.5')),
    (('place', 'buy', 1), D('1')),
    (('place', 'buy', 1), D('0.5')),
    (('dup', 14), D('1')),
    (('place', 'buy', 3), D('0.5')),
    (('place', 'sell', 2), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('cancel', 0), D('0.5')),
    (('dup', 0), D('0.5')),
    (('dup', 0), D('0.5')),
    (('reconnect',), D('0.5')),
    (('snapshot', D('0'), True), D('1')),
    (('cancel', 0), D('1')),
    (('snapshot', D('0'), False), D('1')),
    (('dup', 28), D('1')),
    (('snapshot', D('0'), False), D('1')),
    (('place', 'buy', 1), D('0.5')),
    (('match', 0, 1, D('0'), D('0'), True, False),
    D('0.5')),
    (('dup', 0), D('0.5')),
    (('reconnect',), D('0.5')),
    (('dup', 0), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('cancel', 2), D('0.5')),
    (('reconnect',), D('1')),
    (('place', 'buy', 1), D('1')),
    (('dup', 0), D('0.5')),
    (('reconnect',), D('0.5')),
    (('dup', 0), D('0.5')),
    (('dup', 0), D('0.5')),
    (('place', 'buy', 1), D('0.5')),
    (('snapshot', D('0'), False), D('0.5'))]
]


@pytest.mark.parametrize("plan", MERGED_AWAY)
def test_a_fill_past_the_window_that_a_merged_hypothesis_left_out_is_not_confirmed(plan):
    run("tight", plan)


# The simulated venue's own counter-example (15,000 examples of the "single" regimes): a cancel pulled a fill's
# message in by 2 s while its settlement stayed put, 7 s after the message, past the 6 s window, so the guard rightly
# took it for a phantom at the reconnect and the check saw an under-count. The venue now keeps every fill's settlement
# (and its notice) as long after its message as it would have been: the world stays inside the settlement model.
PULLED_IN = [
    (('place', 'buy', 1), D('0')),
    (('place', 'buy', 2), D('0')),
    (('place', 'buy', 1), D('0')),
    (('place', 'buy', 1), D('0')),
    (('reconnect',), D('0')),
    (('match', 0, 1, D('0'), D('0'), False, False), D('0')),
    (('match', 0, 1, D('2'), D('5'), False, False), D('0')),
    (('cancel', 0), D('0')),
    (('dup', 0), D('3')),
    (('reconnect',), D('3')),
]


@pytest.mark.parametrize("regime", ["single", "feed_single"])
def test_a_cancel_that_pulls_a_fills_message_in_keeps_its_settlement_within_the_window(regime):
    h = run(regime, PULLED_IN)
    trade = next(t for t in h.v.trades if t.order_id == "O2")
    assert trade.settles_at - trade.delivered_at == D(5)  # (7 - 2 before the venue kept the delay)
