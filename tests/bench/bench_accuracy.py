"""Accuracy benchmark (not collected as a test): ``python tests/bench/bench_accuracy.py`` prints one row per venue
regime, with and without phantom fills, for today's rule and for the earlier rule (tests/bench/reference_rule.py)
measured in the same run on the same simulated order flow.

A closed-loop venue simulation outside the guard keeps the truth. A bot quotes both sides of two markets
(max_position 100, min_order_size 1, snapshot_max_age_s 20, pending_fill_max_age_s 30): it asks the guard before
every order, the venue matches partial fills, the websocket delivers them 0-0.3 s after the match (5 % re-delivered
later), the REST API is polled every 1.5-3 s and answers 0-3 s later (so answers can arrive out of order), it goes
down for 25 s now and then, and the user stream reconnects about every 150 s (the adapter's default
``reconcile_event: auto``: a force reconcile on the instant venue, the balance taken as an ordinary snapshot on the
delayed ones).

Regimes: instant (settled at the match, before the websocket message; ``settlement: instant``), lagged (settles
0.5-6 s after the message), slow (5-25 s), slow + status feed (5-25 s, 90 % of settlements reported by
``fill_settled``); the guard is told the default 30 s settlement window, except in "lagged, window 8 s", where
``pending_fill_max_age_s`` is set to what that venue guarantees, and "slow + status feed, notice delay 1 s", where
``settlement_notice_max_delay_s`` is (the simulated feed reports a settlement 0-1 s after it); the rows "reconnect
forced" send a force reconcile at every reconnect (the adapter's ``reconcile_event: force``). Phantom runs: 8 % of
matched trades never settle, half of them reported failed.

Columns: breach steps (true exposure = settled + unsettled real buys + open buy orders above the limit); oversells
(sells the guard allowed beyond what the account will hold once every real trade settles, minus open sells: the
venue rejects them; no-phantom runs); share
of market-steps where effective differs from the truth (settled + unsettled real fills, over the trades whose
websocket message has arrived) and the mean |error|; share
of steps where conservative exposure is above the true exposure; buy and sell volume blocked that a perfect tracker
(the truth, with the same stale-snapshot rule) would allow; microseconds per guard event.

``--sound-best`` (needs OR-tools: ``pip install -e '.[bench]'``) adds, for today's rule on the delayed venues without
phantoms, the least buy volume any sound guard must block at the checks this one blocked (tests/bench/sound_best.py).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "connector_plugin"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import logging

from reference_rule import ReferenceGuard
from sound_best import SoundBest, available as sound_best_available

from inventory_guard.config import parse_config
from inventory_guard.core import Guard, Outcome
from inventory_guard.events import (
    SIDES,
    Check,
    Event,
    Fill,
    FillSettled,
    ForceReconcile,
    OrderClosed,
    OrderOpen,
    Side,
    Snapshot,
    TradeFailed,
)

D = Decimal
LIMIT = D(100)
MAX_AGE = D(30)
SNAPSHOT_MAX_AGE = D(20)
STEP = D("0.5")
MARKETS = ("m1", "m2")
SOUND_BEST_HORIZON = D("1.5")  # --sound-best-horizon: settlement windows before a check fixed to the truth
REGIMES = {
    # name: (settlement key, settle delay after the websocket message (None: at the match), status-feed share,
    #        pending_fill_max_age_s: the settlement window the guard is told,
    #        settlement_notice_max_delay_s: the notice delay the guard is told (None: unknown, the default),
    #        reconnect: what a user-stream reconnect sends, the adapter's reconcile_event ("auto" by default: force
    #        on an instant venue, snapshot on a delayed one))
    "instant": ("instant", None, 0.0, MAX_AGE, None, "auto"),
    "lagged": ("delayed", (0.5, 6.0), 0.0, MAX_AGE, None, "auto"),
    "lagged, window 8 s": ("delayed", (0.5, 6.0), 0.0, D(8), None, "auto"),
    "lagged, window 8 s, reconnect forced": ("delayed", (0.5, 6.0), 0.0, D(8), None, "force"),
    "slow": ("delayed", (5.0, 25.0), 0.0, MAX_AGE, None, "auto"),
    "slow + status feed": ("delayed", (5.0, 25.0), 0.9, MAX_AGE, None, "auto"),
    "slow + status feed, notice delay 1 s": ("delayed", (5.0, 25.0), 0.9, MAX_AGE, D(1), "auto"),
    "slow + status feed, notice delay 1 s, reconnect forced": ("delayed", (5.0, 25.0), 0.9, MAX_AGE, D(1), "force"),
}


@dataclass
class Trade:
    trade_id: str
    market: str
    order_id: str
    side: Side
    size: D
    matched: D
    delivered_at: D
    settles_at: D | None  # None: a phantom
    signed: D = D(0)
    settled: bool = False
    notice: tuple | None = None  # the status feed's report: (its queue entry, None once withdrawn; its lag)
    settled_time: D | None = None  # when the venue settled it (a spot sell can wait past settles_at for shares)

    def __post_init__(self) -> None:
        self.signed = self.size if self.side == "buy" else -self.size


@dataclass
class Order:
    market: str
    side: Side
    remaining: D
    expires: D


@dataclass
class Stats:
    steps: int = 0
    breaches: int = 0
    oversells: int = 0
    wrong: int = 0
    abs_error: D = D(0)
    over: int = 0
    buy_perfect: D = D(0)
    buy_refused: D = D(0)
    sell_perfect: D = D(0)
    sell_refused: D = D(0)
    events: int = 0
    seconds: float = 0.0
    # --sound-best: buy volume the least-blocking sound guard must block at the checks this guard blocked
    sound_refused: D = D(0)
    sound_solves: int = 0
    sound_stopped: int = 0
    sound_outside: int = 0
    sound_beyond: int = 0  # checks where this guard allowed more than a world consistent with its input leaves room


class Sim:
    def __init__(self, regime: str, phantoms: bool, seed: int, guard_cls, duration: float,
                 sound_best: bool = False, sound_best_horizon: D = SOUND_BEST_HORIZON) -> None:
        self.settlement, self.delay, self.feed, max_age, notice_delay, self.reconnect = REGIMES[regime]
        self.best = SoundBest(max_age, notice_delay, horizon_windows=sound_best_horizon) if sound_best else None
        if self.reconnect == "auto":
            self.reconnect = "force" if self.settlement == "instant" else "snapshot"
        self.phantoms = phantoms
        self.rnd = random.Random(seed)
        self.guard = guard_cls(parse_config({
            "max_position": str(LIMIT), "size_increment": "1", "min_order_size": "1",
            "pending_fill_max_age_s": str(max_age), "snapshot_max_age_s": str(SNAPSHOT_MAX_AGE),
            "settlement": self.settlement,
            "settlement_notice_max_delay_s": None if notice_delay is None else str(notice_delay),
        }))
        self.duration = D(str(duration))
        self.now = D(0)
        self.settled = {m: D(0) for m in MARKETS}
        self.trades: list[Trade] = []
        self.orders: dict[str, Order] = {}
        self.queue: list[tuple[D, int, Event]] = []  # (deliver at, tie-break, event)
        self.seq = 0
        self.next_id = 0
        self.next_poll = D(0)
        self.outage_until = D(-1)
        self.next_reconnect = D(self.rnd.uniform(100, 200)).quantize(STEP)
        self.stats = Stats()

    # --- plumbing ------------------------------------------------------------------------------------------

    def send(self, event: Event) -> Outcome:
        if self.best is not None:
            if isinstance(event, Snapshot):
                self.best.snapshot(event.market, event.t if event.as_of is None else event.as_of, event.size)
            elif isinstance(event, ForceReconcile):
                self.best.snapshot(event.market, event.t, event.size)
            elif isinstance(event, FillSettled):
                self.best.notice(event.trade_id, event.t)
            elif isinstance(event, TradeFailed):
                self.best.trade_failed(event.trade_id)
        started = time.perf_counter()
        out = self.guard.apply(event)
        self.stats.seconds += time.perf_counter() - started
        self.stats.events += 1
        return out

    def later(self, at: D, event: Event) -> None:
        self.seq += 1
        self.queue.append((at, self.seq, event))

    def uniform(self, lo: float, hi: float) -> D:
        return D(str(round(self.rnd.uniform(lo, hi), 2)))

    # --- the truth ---------------------------------------------------------------------------------------------

    def unsettled_real(self, market: str) -> list[Trade]:
        return [t for t in self.trades if t.market == market and t.settles_at is not None and not t.settled]

    def true_exposure(self, market: str) -> D:
        buys = sum((t.size for t in self.unsettled_real(market) if t.side == "buy"), D(0))
        opens = sum((o.remaining for o in self.orders.values() if o.market == market and o.side == "buy"), D(0))
        return self.settled[market] + buys + opens

    def will_hold(self, market: str) -> D:
        return self.settled[market] + sum((t.signed for t in self.unsettled_real(market)), D(0))

    def known_truth(self, market: str) -> D:
        """The position once every real trade settles, over the trades whose websocket message has arrived: what
        any tracker can know (an instant venue's settled position runs 0-0.3 s ahead of its messages)."""
        ahead = sum((t.signed for t in self.trades if t.market == market and t.settles_at is not None
                     and t.delivered_at > self.now), D(0))
        return self.will_hold(market) - ahead

    def open_sell_orders(self, market: str) -> D:
        return sum((o.remaining for o in self.orders.values() if o.market == market and o.side == "sell"), D(0))

    # --- the loop ----------------------------------------------------------------------------------------------

    def run(self) -> Stats:
        for market in MARKETS:
            self.send(Snapshot(D(0), market, D(0)))
        while self.now < self.duration:
            self.now += STEP
            self.settle()
            self.deliver()
            self.poll()
            if self.now >= self.next_reconnect:
                self.next_reconnect = self.now + self.uniform(100, 200).quantize(STEP)
                self.deliver()  # every message due by now first, as the stream does before a reconnect
                for market in MARKETS:
                    if self.reconnect == "force":
                        self.send(ForceReconcile(self.now, market, self.settled[market], "ws_reconnect"))
                    else:  # reconcile_event: snapshot (the balance API's answer, taken as an ordinary snapshot)
                        self.send(Snapshot(self.now, market, self.settled[market]))
            self.expire()
            for market in MARKETS:
                self.quote(market)
            self.match()
            self.sample()
        return self.stats

    def settle(self) -> None:
        for t in self.trades:
            if t.settles_at is None or t.settled or t.settles_at > self.now:
                continue
            if t.side == "sell" and t.size > self.settled[t.market]:
                # spot: a sell's transfer waits for the shares it sells (a buy settling first); the feed reports it
                # once it has settled, as late after that as it would have been
                if t.notice is not None and t.notice[0] is not None:
                    self.queue.remove(t.notice[0])  # (still queued: it is not due before the trade settles)
                    t.notice = (None, t.notice[1])
                continue
            t.settled = True
            t.settled_time = self.now
            self.settled[t.market] += t.signed
            if t.notice is not None and t.notice[0] is None:  # withdrawn while the sell waited: sent now
                notice = self.now + t.notice[1]
                self.later(notice, FillSettled(notice, t.trade_id))

    def deliver(self) -> None:
        """Deliver every message due by now, in time order."""
        due = sorted(e for e in self.queue if e[0] <= self.now)
        self.queue = [e for e in self.queue if e[0] > self.now]
        for _at, _, event in due:
            self.send(event)

    def poll(self) -> None:
        if self.now < self.next_poll:
            return
        self.next_poll = self.now + self.uniform(1.5, 3.0)
        if self.now < self.outage_until:
            return
        if self.rnd.random() < 0.01:
            self.outage_until = self.now + 25
            return
        answer = self.now + self.uniform(0.0, 3.0)
        for market in MARKETS:
            self.later(answer, Snapshot(answer, market, self.settled[market], as_of=self.now))

    def expire(self) -> None:
        for oid, order in list(self.orders.items()):
            if order.expires <= self.now:
                del self.orders[oid]
                self.close_after_fills(oid)

    def close_after_fills(self, oid: str) -> None:
        last = max([t.delivered_at for t in self.trades if t.order_id == oid] + [self.now])
        self.later(last + D("0.01"), OrderClosed(last + D("0.01"), oid))

    def quote(self, market: str) -> None:
        for side in SIDES:
            if any(o.market == market and o.side == side for o in self.orders.values()):
                continue
            want = D(self.rnd.randint(5, 20))
            perfect = self.perfect(market, side, want)
            decision = self.send(Check(self.now, market, side, want)).decision
            assert decision is not None  # a check is always answered
            size = decision.size if decision.allowed else D(0)
            if side == "buy":
                self.stats.buy_perfect += perfect
                self.stats.buy_refused += max(D(0), perfect - size)
                if self.best is not None and size < perfect:
                    self.sound_best(market, want, perfect, size)
            else:
                self.stats.sell_perfect += perfect
                self.stats.sell_refused += max(D(0), perfect - size)
            if size > 0 and side == "sell" and size > self.will_hold(market) - self.open_sell_orders(market):
                self.stats.oversells += 1  # the guard allowed a sell the account cannot cover: the venue rejects it
                continue
            if size > 0:
                self.next_id += 1
                oid = f"O{self.next_id}"
                self.orders[oid] = Order(market, side, size, self.now + self.uniform(10, 30))
                self.send(OrderOpen(self.now, market, oid, side, size))

    def perfect(self, market: str, side: str, want: D) -> D:
        """What a tracker that knows the venue would allow, with the same stale-snapshot rule."""
        if side == "buy":
            as_of = self.guard.books[market].confirmed_at
            if as_of is None or self.now - as_of > SNAPSHOT_MAX_AGE:
                return D(0)
            room = LIMIT - self.true_exposure(market)
        else:
            room = self.will_hold(market) - self.open_sell_orders(market)
        size = min(want, max(room, D(0)))
        return size if size >= 1 else D(0)

    def sound_best(self, market: str, want: D, perfect: D, size: D) -> None:
        best, s = self.best, self.stats
        assert best is not None
        opens = sum((o.remaining for o in self.orders.values() if o.market == market and o.side == "buy"), D(0))
        before = (best.solves, best.stopped, best.outside_model)
        exposure = best.max_exposure(self.now, market, self.trades, opens)
        s.sound_solves += best.solves - before[0]
        s.sound_stopped += best.stopped - before[1]
        s.sound_outside += best.outside_model - before[2]
        room = LIMIT - (self.true_exposure(market) if exposure is None else exposure)
        allowed = min(want, max(room, D(0)))
        allowed = allowed if allowed >= 1 else D(0)
        if size > allowed:
            s.sound_beyond += 1
        s.sound_refused += perfect - min(perfect, max(allowed, size))

    def match(self) -> None:
        for oid, order in list(self.orders.items()):
            if self.rnd.random() >= 0.2:
                continue
            size = D(self.rnd.randint(1, int(order.remaining)))
            order.remaining -= size
            self.next_id += 1
            delivered = self.now + self.uniform(0.0, 0.3)
            phantom = self.phantoms and self.rnd.random() < 0.08
            if phantom:
                settles = None
            elif self.delay is None:
                settles = self.now
            else:
                settles = delivered + self.uniform(*self.delay)
            trade = Trade(f"T{self.next_id}", order.market, oid, order.side, size, self.now, delivered, settles)
            self.trades.append(trade)
            fill = Fill(delivered, order.market, order.side, size, trade_id=trade.trade_id, order_id=oid)
            self.later(delivered, fill)
            if self.rnd.random() < 0.05:  # re-delivered later (a replay after a resubscribe)
                again = delivered + self.uniform(1, 10)
                self.later(again, Fill(again, order.market, order.side, size, trade_id=trade.trade_id, order_id=oid))
            if phantom and self.rnd.random() < 0.5:
                failed = delivered + self.uniform(1, 10)
                self.later(failed, TradeFailed(failed, trade.trade_id))
            if settles is not None and self.rnd.random() < self.feed:
                lag = self.uniform(0.0, 1.0)
                notice = max(settles, delivered) + lag
                self.later(notice, FillSettled(notice, trade.trade_id))
                trade.notice = (self.queue[-1], lag)
            if order.remaining == 0:
                del self.orders[oid]
                self.close_after_fills(oid)

    def sample(self) -> None:
        s = self.stats
        for market in MARKETS:
            book = self.guard.books[market]
            truth = self.known_truth(market)
            exposure = self.true_exposure(market)
            s.steps += 1
            s.breaches += exposure > LIMIT
            error = abs(book.effective - truth)
            s.wrong += error != 0
            s.abs_error += error
            s.over += book.conservative_exposure > exposure


def measure(regime: str, phantoms: bool, runs: int, duration: float, guard_cls, sound_best: bool = False,
            sound_best_horizon: D = SOUND_BEST_HORIZON) -> Stats:
    total = Stats()
    for seed in range(runs):
        s = Sim(regime, phantoms, 1000 * seed + 7, guard_cls, duration, sound_best, sound_best_horizon).run()
        for name in total.__dataclass_fields__:
            setattr(total, name, getattr(total, name) + getattr(s, name))
    return total


def pct(part, whole) -> str:
    return f"{100 * float(part) / float(whole):.1f} %" if whole else "-"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=6, help="runs per row (seeds 0..runs-1)")
    parser.add_argument("--duration", type=float, default=600, help="simulated seconds per run")
    parser.add_argument("--regime", action="append", choices=list(REGIMES), help="only these regimes")
    parser.add_argument("--sound-best", action="store_true",
                        help="add the least buy volume any sound guard must block at the checks today's rule blocked "
                             "(tests/bench/sound_best.py; needs ortools; delayed venues, runs without phantoms, "
                             "today's rule only; slow: minutes per run)")
    parser.add_argument("--sound-best-horizon", type=D, default=SOUND_BEST_HORIZON, metavar="WINDOWS",
                        help="--sound-best: fills whose message came more than this many settlement windows (+5 s) "
                             "before a check are fixed to the truth (larger: a tighter lower bound, slower searches)")
    args = parser.parse_args(argv)
    if args.sound_best and not sound_best_available():
        parser.error("--sound-best needs OR-tools: pip install -e '.[bench]' (or pip install ortools)")
    logging.getLogger("inventory_guard").setLevel(logging.CRITICAL)
    header = ("| venue | phantoms | rule | breach steps | oversells | effective wrong | mean abs error | "
              "conservative above truth | buy blocked | sell blocked | us/event |")
    if args.sound_best:
        header += " buy blocked, sound best | searches (stopped, outside the model) | allowed beyond a world |"

    print(f"{args.runs} runs x {args.duration:.0f} s per row, 2 markets, limit {LIMIT}\n")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for regime in args.regime or REGIMES:
        if args.sound_best and REGIMES[regime][0] == "instant":
            continue  # (the reference's model is a delayed venue's: a fill settles at or after its message)
        for phantoms in (False,) if args.sound_best else (False, True):
            rules = (("today", Guard),) if args.sound_best else (("today", Guard), ("earlier", ReferenceGuard))
            for name, cls in rules:
                s = measure(regime, phantoms, args.runs, args.duration, cls, args.sound_best,
                            args.sound_best_horizon)
                row = (f"| {regime} | {'8 %' if phantoms else 'none'} | {name} | {s.breaches} | "
                       f"{s.oversells if not phantoms else '-'} | {pct(s.wrong, s.steps)} | "
                       f"{float(s.abs_error) / s.steps:.2f} | {pct(s.over, s.steps)} | "
                       f"{pct(s.buy_refused, s.buy_perfect)} | {pct(s.sell_refused, s.sell_perfect)} | "
                       f"{1e6 * s.seconds / s.events:.1f} |")
                if args.sound_best:
                    row += (f" {pct(s.sound_refused, s.buy_perfect)} | {s.sound_solves} ({s.sound_stopped}, "
                            f"{s.sound_outside}) | {s.sound_beyond} |")
                print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
