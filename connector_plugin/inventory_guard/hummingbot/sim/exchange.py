"""An in-process, Polymarket-style central limit order book: the venue behind the simulated connector.

Pure Python, no Hummingbot imports, no network, no wall clock: every method takes its time from ``advance(now)``
(the driver's simulated clock), and every random choice comes from one ``random.Random(seed)``, so a run is
reproducible from its seed and the sequence of calls.

What it models (each one a way a bot's view of its inventory goes wrong):

* **Order book and matching.** A synthetic book around a seeded random-walk mid (prices in [0.01, 0.99], like an
  outcome token quoted in USDC); our LIMIT / LIMIT_MAKER / MARKET orders match against it on placement, rest
  otherwise, and resting orders are hit by a seeded stream of outside takers (price-time priority) and by the mid
  moving through them.
* **Trade statuses, as Polymarket's user channel reports them.** A matched trade is reported on the websocket at
  once (``status: MATCHED``), then each status change as another ``trade`` message with the same ``id``:
  ``MINED`` (``mine_delay_s`` after the match) and ``CONFIRMED`` (``settle_delay_s`` after it; only now does the
  balance move), or, for a trade that will fail, ``RETRYING`` and then ``FAILED``. A share
  ``status_notice_loss_prob`` of these status notices (everything after ``MATCHED``) is never delivered; the REST
  trade history still shows each trade's current status.
* **Phantom fills.** With probability ``fail_prob`` a matched trade later FAILS (``fail_delay_s`` after the match):
  the websocket reported the fill, the balance never moves, and the venue then reports the trade as ``FAILED``
  (websocket message, unless lost, and REST trade status).
* **Lagging balance API.** ``get_balances()`` returns the settled ledger as it was ``balance_lag_s`` ago (with that
  ``as_of`` time in the answer).
* **Duplicate websocket deliveries.** With probability ``dup_prob`` a trade message is sent twice, unchanged.
  On resubscribe after a disconnect the venue replays the trades of the last ``replay_window_s`` seconds from
  another code path that writes the trade id as a JSON number instead of a string (the type mismatch behind
  duplicate fills in hummingbot issues #1663/#4990): a client that keys fills by the raw id sees a new trade.
* **User-stream disconnects.** The user stream drops at seeded random times (``disconnect_rate_per_s``) for
  ``disconnect_min_s``..``disconnect_max_s`` seconds; messages produced meanwhile are lost (the REST API still
  answers). ``connection_id`` increments on every reconnect.

Message shape (Polymarket's user channel): ``event_type: "trade"``, ``type: "TRADE"``, ``id``, ``status``,
``side``/``size``/``price`` (our side of the trade), ``taker_order_id`` and ``maker_orders`` (``order_id``,
``matched_amount``, ``price``), ``matchtime``, ``last_update`` and ``timestamp`` (epoch seconds as strings); the
simulator adds ``order_id`` / ``client_order_id`` (our order in the trade), ``liquidity`` and ``replay``.

Sells need settled shares (and buys settled collateral), as on a chain-settled venue: shares bought but not yet
settled cannot be sold yet, and an order the balance does not cover is rejected with ``VenueError``.
"""
from __future__ import annotations

import bisect
import random
from collections import deque
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

D = Decimal
ZERO = D(0)
TERMINAL_STATUSES = ("CONFIRMED", "FAILED")


class VenueError(Exception):
    """A request the venue refuses (insufficient balance, post-only would cross, unknown order ...)."""

    def __init__(self, message: str, code: str = "bad_request"):
        super().__init__(message)
        self.code = code


@dataclass
class VenueConfig:
    trading_pair: str = "YES-USDC"
    seed: int = 7
    start_time: float = 1_767_225_600.0    # 2026-01-01T00:00:00Z: a plausible epoch (consumers treat t <= 0 as unset)
    # prices / sizes
    tick_size: Decimal = D("0.01")
    size_increment: Decimal = D("1")
    min_order_size: Decimal = D("1")
    start_mid: Decimal = D("0.50")
    mid_step_std: float = 0.004          # random-walk step per simulated second, in price units
    min_price: Decimal = D("0.02")
    max_price: Decimal = D("0.98")
    # synthetic outside liquidity
    book_levels: int = 5
    book_level_size: Decimal = D("300")
    book_half_spread_ticks: int = 2      # outside best bid/ask = mid -/+ this many ticks
    # outside takers hitting our resting orders
    outside_sell_rate_per_s: float = 0.35   # probability per simulated second that an outside seller hits bids
    outside_buy_rate_per_s: float = 0.35    # ... that an outside buyer lifts asks
    taker_size_min: int = 3
    taker_size_max: int = 25
    taker_reach_ticks: int = 3           # a taker's limit reaches up to this many ticks through the mid
    # settlement (trade statuses), failures, lag
    mine_delay_s: float = 2.0            # MATCHED -> MINED (a failing trade: -> RETRYING)
    settle_delay_s: float = 6.0          # MATCHED -> CONFIRMED: the balance moves
    fail_prob: float = 0.08
    fail_delay_s: float = 15.0           # MATCHED -> FAILED
    failed_trade_reports: bool = True    # False: a failed trade silently vanishes (no FAILED message, not in REST)
    status_notice_loss_prob: float = 0.0   # share of status notices after MATCHED never delivered (own RNG stream)
    balance_lag_s: float = 4.0
    # websocket faults
    dup_prob: float = 0.10
    replay_window_s: float = 20.0
    disconnect_rate_per_s: float = 1 / 90
    disconnect_min_s: float = 3.0
    disconnect_max_s: float = 10.0
    # account
    initial_base: Decimal = ZERO
    initial_quote: Decimal = D("10000")

    @property
    def base(self) -> str:
        return self.trading_pair.split("-")[0]

    @property
    def quote(self) -> str:
        return self.trading_pair.split("-")[1]

    def with_overrides(self, **kw) -> VenueConfig:
        return replace(self, **kw)


@dataclass
class VenueOrder:
    order_id: str                 # exchange order id
    client_order_id: str
    side: str                     # "BUY" / "SELL"
    order_type: str               # "LIMIT" / "LIMIT_MAKER" / "MARKET"
    price: Decimal
    size: Decimal
    created_at: float
    seq: int
    size_matched: Decimal = ZERO
    status: str = "LIVE"          # LIVE / MATCHED (fully) / CANCELED

    @property
    def remaining(self) -> Decimal:
        return self.size - self.size_matched

    @property
    def is_live(self) -> bool:
        return self.status == "LIVE"


@dataclass
class VenueTrade:
    trade_id: int
    order_id: str
    client_order_id: str
    side: str
    price: Decimal
    size: Decimal
    matched_at: float
    resolve_at: float
    will_fail: bool
    liquidity: str                # "MAKER" / "TAKER"
    mine_at: float = 0.0          # when MINED (RETRYING for a failing trade) is due
    status: str = "MATCHED"       # MATCHED -> MINED -> CONFIRMED | MATCHED -> RETRYING -> FAILED
    resolved_at: float | None = None
    updated_at: float | None = None
    market: str = ""

    @property
    def settling(self) -> bool:
        """Matched, neither CONFIRMED nor FAILED yet."""
        return self.status not in TERMINAL_STATUSES

    def message(self, numeric_id: bool = False, replay: bool = False) -> dict:
        updated = self.updated_at if self.updated_at is not None else self.matched_at
        maker = self.liquidity == "MAKER"
        return {
            "event_type": "trade",
            "type": "TRADE",
            "id": self.trade_id if numeric_id else str(self.trade_id),
            "status": self.status,
            "market": self.market,
            "side": self.side,
            "price": str(self.price),
            "size": str(self.size),
            "taker_order_id": "0xoutside" if maker else self.order_id,
            "maker_orders": ([{"order_id": self.order_id, "matched_amount": str(self.size), "price": str(self.price)}]
                             if maker else []),
            "matchtime": str(self.matched_at),
            "last_update": str(updated),
            "timestamp": str(updated),
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "liquidity": self.liquidity,
            "replay": replay,
        }

    def rest(self) -> dict:
        return self.message()


@dataclass
class VenueStats:
    orders_placed: int = 0
    orders_rejected: int = 0
    orders_canceled: int = 0
    trades_matched: int = 0
    trades_confirmed: int = 0
    trades_failed: int = 0
    status_notices_lost: int = 0
    base_failed: Decimal = ZERO
    ws_messages: int = 0
    ws_messages_lost: int = 0
    ws_duplicates_sent: int = 0
    ws_replays_sent: int = 0
    disconnects: int = 0
    reconnects: int = 0
    max_true_exposure: Decimal = ZERO

    def as_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in self.__dict__.items()}


class SimExchange:
    """The venue. Call ``advance(now)`` with a non-decreasing simulated time before each batch of requests."""

    def __init__(self, config: VenueConfig | None = None, **overrides):
        cfg = config or VenueConfig()
        if overrides:
            cfg = cfg.with_overrides(**overrides)
        self.config = cfg
        self.rng = random.Random(cfg.seed)
        self._notice_rng = random.Random(f"{cfg.seed}:status-notices")   # its own stream: a seed's run is unchanged
        self.now: float = cfg.start_time
        self._last_second: int = int(cfg.start_time)
        self.mid: Decimal = cfg.start_mid
        self._mid_f: float = float(cfg.start_mid)
        self.orders: dict[str, VenueOrder] = {}
        self.trades: dict[int, VenueTrade] = {}
        self._order_seq = 0
        self._trade_seq = 1000
        # settled ledger and its history (for the lagging balance API)
        self.settled_base: Decimal = cfg.initial_base
        self.settled_quote: Decimal = cfg.initial_quote
        self._ledger_t: list[float] = [float("-inf")]
        self._ledger: list[tuple[Decimal, Decimal]] = [(self.settled_base, self.settled_quote)]
        # user stream
        self.ws_connected: bool = True
        self.connection_id: int = 1
        self._reconnect_at: float | None = None
        self._ws_queue: deque[dict] = deque()
        self.stats = VenueStats()
        self._forced_fail: set = set()
        self._forced_ok: set = set()

    # ------------------------------------------------------------------ time
    def advance(self, now: float) -> None:
        """Move the venue to ``now``: per simulated second, random-walk the mid, let outside takers trade, drop or
        restore the user stream; then settle or fail the trades that are due."""
        if now < self.now:
            raise ValueError(f"time went backwards: {now} < {self.now}")
        target = int(now)
        while self._last_second < target:
            self._last_second += 1
            sec = float(self._last_second)
            self.now = sec
            self._resolve_trades(sec)
            self._ws_second(sec)
            self._walk_mid()
            self._outside_takers()
            self._sweep_crossed()
        self.now = now
        self._resolve_trades(now)
        self._track_truth()

    def _walk_mid(self) -> None:
        c = self.config
        self._mid_f += self.rng.gauss(0.0, c.mid_step_std)
        lo, hi = float(c.min_price) + 2 * float(c.tick_size), float(c.max_price) - 2 * float(c.tick_size)
        self._mid_f = min(max(self._mid_f, lo), hi)
        self.mid = D(repr(self._mid_f)).quantize(D("0.0001"))

    def _ws_second(self, sec: float) -> None:
        c = self.config
        if self.ws_connected:
            if c.disconnect_rate_per_s > 0 and self.rng.random() < c.disconnect_rate_per_s:
                self.disconnect(self.rng.uniform(c.disconnect_min_s, c.disconnect_max_s))
        elif self._reconnect_at is not None and sec >= self._reconnect_at:
            self._reconnect()

    # ------------------------------------------------------------------ book
    def _q_price(self, p: Decimal, rounding=ROUND_HALF_UP) -> Decimal:
        t = self.config.tick_size
        return (p / t).quantize(D(1), rounding=rounding) * t

    def best_bid(self) -> Decimal:
        return max(self.config.min_price,
                   self._q_price(self.mid) - self.config.book_half_spread_ticks * self.config.tick_size)

    def best_ask(self) -> Decimal:
        return min(self.config.max_price,
                   self._q_price(self.mid) + self.config.book_half_spread_ticks * self.config.tick_size)

    def book(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """(bids, asks) as (price, size) lists, best first: the outside liquidity plus our own live orders."""
        c = self.config
        bids: dict[Decimal, Decimal] = {}
        asks: dict[Decimal, Decimal] = {}
        for i in range(c.book_levels):
            bp = self.best_bid() - i * c.tick_size
            ap = self.best_ask() + i * c.tick_size
            if bp >= c.min_price:
                bids[bp] = bids.get(bp, ZERO) + c.book_level_size
            if ap <= c.max_price:
                asks[ap] = asks.get(ap, ZERO) + c.book_level_size
        for o in self.orders.values():
            if o.is_live:
                side = bids if o.side == "BUY" else asks
                side[o.price] = side.get(o.price, ZERO) + o.remaining
        return (sorted(bids.items(), key=lambda x: -x[0]), sorted(asks.items(), key=lambda x: x[0]))

    # ------------------------------------------------------------------ balances
    def _unsettled(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """(buy base, buy cost, sell base, sell proceeds) of matched trades not settled and not failed."""
        bb = bc = sb = sp = ZERO
        for tr in self.trades.values():
            if tr.settling:
                if tr.side == "BUY":
                    bb += tr.size
                    bc += tr.size * tr.price
                else:
                    sb += tr.size
                    sp += tr.size * tr.price
        return bb, bc, sb, sp

    def _locked(self) -> tuple[Decimal, Decimal]:
        """(quote locked by live buys, base locked by live sells)."""
        lq = lb = ZERO
        for o in self.orders.values():
            if o.is_live:
                if o.side == "BUY":
                    lq += o.remaining * o.price
                else:
                    lb += o.remaining
        return lq, lb

    def available(self) -> tuple[Decimal, Decimal]:
        """(base, quote) the venue lets us commit now: settled, minus live orders, minus matched-unsettled sales."""
        bb, bc, sb, sp = self._unsettled()
        lq, lb = self._locked()
        return self.settled_base - lb - sb, self.settled_quote - lq - bc

    def _ledger_apply(self, dbase: Decimal, dquote: Decimal, t: float) -> None:
        self.settled_base += dbase
        self.settled_quote += dquote
        self._ledger_t.append(t)
        self._ledger.append((self.settled_base, self.settled_quote))

    def get_balances(self) -> dict:
        """REST balance/position endpoint: the settled ledger as of ``now - balance_lag_s``."""
        as_of = self.now - self.config.balance_lag_s
        i = bisect.bisect_right(self._ledger_t, as_of) - 1
        base, quote = self._ledger[max(i, 0)]
        lq, lb = self._locked()
        return {
            "as_of": as_of,
            "server_time": self.now,
            "balances": {
                self.config.base: {"total": str(base), "available": str(max(base - lb, ZERO))},
                self.config.quote: {"total": str(quote), "available": str(max(quote - lq, ZERO))},
            },
        }

    # ------------------------------------------------------------------ orders
    def place_order(self, client_order_id: str, side: str, order_type: str, size: Decimal,
                    price: Decimal | None = None) -> dict:
        c = self.config
        side = side.upper()
        order_type = order_type.upper()
        size = D(size)
        if side not in ("BUY", "SELL"):
            raise VenueError(f"bad side {side!r}")
        if size < c.min_order_size or (size / c.size_increment) % 1 != 0:
            self.stats.orders_rejected += 1
            raise VenueError(f"invalid size {size}", "invalid_size")
        if order_type == "MARKET":
            price = c.max_price if side == "BUY" else c.min_price
        else:
            if price is None or not D(price).is_finite():
                raise VenueError("limit order without price")
            price = D(price)
            if price < c.min_price or price > c.max_price or (price / c.tick_size) % 1 != 0:
                self.stats.orders_rejected += 1
                raise VenueError(f"invalid price {price}", "invalid_price")
        crosses = price >= self.best_ask() if side == "BUY" else price <= self.best_bid()
        if order_type == "LIMIT_MAKER" and crosses:
            self.stats.orders_rejected += 1
            raise VenueError("post-only order would cross", "post_only_cross")
        avail_base, avail_quote = self.available()
        if side == "BUY" and size * price > avail_quote:
            self.stats.orders_rejected += 1
            raise VenueError(f"not enough balance: need {size * price} {c.quote}, available {avail_quote}",
                             "insufficient_balance")
        if side == "SELL" and size > avail_base:
            self.stats.orders_rejected += 1
            raise VenueError(f"not enough balance: need {size} {c.base}, available {avail_base}",
                             "insufficient_balance")
        self._order_seq += 1
        oid = f"0x{self._order_seq:08x}"
        order = VenueOrder(oid, client_order_id, side, order_type, price, size, self.now, self._order_seq)
        self.orders[oid] = order
        self.stats.orders_placed += 1
        self._emit({"event_type": "order", "type": "PLACEMENT", **self._order_body(order)})
        if crosses:
            self._take_outside(order)
        if order_type == "MARKET" and order.is_live:          # fill-and-kill remainder
            order.status = "CANCELED" if order.size_matched < order.size else "MATCHED"
            self._emit({"event_type": "order", "type": "CANCELLATION", **self._order_body(order)})
        return {"orderID": oid, "status": order.status.lower() if order.status != "LIVE" else "live",
                "ts": self.now}

    def _take_outside(self, order: VenueOrder) -> None:
        """Match an incoming crossing order against the outside book, level by level, up to its limit."""
        c = self.config
        for i in range(c.book_levels):
            if not order.is_live:
                break
            if order.side == "BUY":
                lvl = self.best_ask() + i * c.tick_size
                if lvl > order.price or lvl > c.max_price:
                    break
            else:
                lvl = self.best_bid() - i * c.tick_size
                if lvl < order.price or lvl < c.min_price:
                    break
            self._fill(order, min(order.remaining, c.book_level_size), lvl, "TAKER")

    def cancel_order(self, order_id: str) -> dict:
        order = self.orders.get(order_id)
        if order is None:
            raise VenueError(f"order {order_id} not found", "not_found")
        if not order.is_live:
            return {"canceled": [], "not_canceled": {order_id: f"order is {order.status}"}}
        order.status = "CANCELED"
        self.stats.orders_canceled += 1
        self._emit({"event_type": "order", "type": "CANCELLATION", **self._order_body(order)})
        return {"canceled": [order_id], "not_canceled": {}}

    def get_order(self, order_id: str) -> dict:
        order = self.orders.get(order_id)
        if order is None:
            raise VenueError(f"order {order_id} not found", "not_found")
        return self._order_body(order)

    def find_order(self, client_order_id: str) -> dict | None:
        for o in self.orders.values():
            if o.client_order_id == client_order_id:
                return self._order_body(o)
        return None

    def get_trades(self, order_id: str) -> list[dict]:
        """REST trade history of one order (all statuses; ids as strings)."""
        return [t.rest() for t in self.trades.values() if t.order_id == order_id
                and (t.status != "FAILED" or self.config.failed_trade_reports)]

    def _order_body(self, o: VenueOrder) -> dict:
        return {"id": o.order_id, "client_order_id": o.client_order_id, "side": o.side, "order_type": o.order_type,
                "price": str(o.price), "original_size": str(o.size), "size_matched": str(o.size_matched),
                "status": o.status, "created_at": o.created_at, "timestamp": self.now}

    # ------------------------------------------------------------------ matching
    def _fill(self, order: VenueOrder, size: Decimal, price: Decimal, liquidity: str) -> None:
        c = self.config
        size = (size / c.size_increment).to_integral_value(rounding=ROUND_DOWN) * c.size_increment
        if size <= 0:
            return
        order.size_matched += size
        if order.size_matched >= order.size:
            order.status = "MATCHED"
        self._trade_seq += 1
        tid = self._trade_seq
        will_fail = self.rng.random() < c.fail_prob
        if tid in self._forced_fail or (self.stats.trades_matched + 1) in self._forced_fail:
            will_fail = True
        if (self.stats.trades_matched + 1) in self._forced_ok:
            will_fail = False
        delay = c.fail_delay_s if will_fail else c.settle_delay_s
        tr = VenueTrade(tid, order.order_id, order.client_order_id, order.side, price, size, self.now,
                        self.now + delay, will_fail, liquidity, mine_at=self.now + min(c.mine_delay_s, delay),
                        market=c.trading_pair)
        self.trades[tid] = tr
        self.stats.trades_matched += 1
        self._emit_trade(tr)
        self._emit({"event_type": "order", "type": "UPDATE", **self._order_body(order)})

    def _outside_takers(self) -> None:
        """Outside takers arrive on each side; they hit our live orders whose price reaches their limit."""
        c = self.config
        for taker_side in ("SELL", "BUY"):            # an outside SELL hits our bids, an outside BUY our asks
            rate = c.outside_sell_rate_per_s if taker_side == "SELL" else c.outside_buy_rate_per_s
            if self.rng.random() >= rate:
                continue
            size = D(self.rng.randint(c.taker_size_min, c.taker_size_max))
            reach = self.rng.randint(0, c.taker_reach_ticks) * c.tick_size
            mid_q = self._q_price(self.mid)
            limit = mid_q - reach if taker_side == "SELL" else mid_q + reach
            ours = [o for o in self.orders.values() if o.is_live and o.side != taker_side
                    and (o.price >= limit if taker_side == "SELL" else o.price <= limit)]
            ours.sort(key=lambda o: ((-o.price if o.side == "BUY" else o.price), o.seq))
            for o in ours:
                if size <= 0:
                    break
                q = min(size, o.remaining)
                self._fill(o, q, o.price, "MAKER")
                size -= q

    def _sweep_crossed(self) -> None:
        """The mid moved through a resting order: arbitrageurs take all of it at its price."""
        ba, bb = self.best_ask(), self.best_bid()
        for o in sorted(self.orders.values(), key=lambda o: o.seq):
            if o.is_live and ((o.side == "BUY" and o.price >= ba) or (o.side == "SELL" and o.price <= bb)):
                self._fill(o, o.remaining, o.price, "MAKER")

    # ------------------------------------------------------------------ settlement
    def _resolve_trades(self, now: float) -> None:
        for tr in self.trades.values():
            if not tr.settling:
                continue
            if tr.status == "MATCHED" and tr.mine_at <= now and tr.mine_at < tr.resolve_at:
                tr.status = "RETRYING" if tr.will_fail else "MINED"
                tr.updated_at = tr.mine_at
                self._emit_status(tr)
            if tr.resolve_at > now:
                continue
            tr.resolved_at = tr.updated_at = tr.resolve_at
            if tr.will_fail:
                tr.status = "FAILED"
                self.stats.trades_failed += 1
                self.stats.base_failed += tr.size
                if not self.config.failed_trade_reports:
                    continue
            else:
                tr.status = "CONFIRMED"
                self.stats.trades_confirmed += 1
                sign = 1 if tr.side == "BUY" else -1
                self._ledger_apply(sign * tr.size, -sign * tr.size * tr.price, tr.resolve_at)
            self._emit_status(tr)

    def _emit_status(self, tr: VenueTrade) -> None:
        """A status notice after MATCHED; a share ``status_notice_loss_prob`` of them is never delivered."""
        p = self.config.status_notice_loss_prob
        if p > 0 and self._notice_rng.random() < p:
            self.stats.ws_messages += 1
            self.stats.status_notices_lost += 1
            return
        if tr.settling:                 # MINED / RETRYING: sent once (no duplicate draw: a seed's run is unchanged)
            self._emit(tr.message())
        else:
            self._emit_trade(tr)

    def fail_next_trades(self, *ordinals: int) -> None:
        """Test hook: the n-th matched trades (1-based over the venue's lifetime) will fail."""
        self._forced_fail.update(ordinals)

    def settle_next_trades(self, *ordinals: int) -> None:
        """Test hook: the n-th matched trades will settle whatever the random draw says."""
        self._forced_ok.update(ordinals)

    # ------------------------------------------------------------------ user stream
    def _emit(self, msg: dict) -> None:
        self.stats.ws_messages += 1
        if not self.ws_connected:
            self.stats.ws_messages_lost += 1
            return
        self._ws_queue.append(msg)

    def _emit_trade(self, tr: VenueTrade) -> None:
        self._emit(tr.message())
        if self.ws_connected and self.config.dup_prob > 0 and self.rng.random() < self.config.dup_prob:
            self.stats.ws_duplicates_sent += 1
            self._ws_queue.append(tr.message())

    def ws_drain(self) -> list[dict]:
        """Messages delivered to the (connected) user stream since the last call."""
        if not self.ws_connected:
            return []
        out = list(self._ws_queue)
        self._ws_queue.clear()
        return out

    def disconnect(self, duration_s: float) -> None:
        """Drop the user stream now; it comes back ``duration_s`` later (on the next advance past that time)."""
        if not self.ws_connected:
            return
        self.ws_connected = False
        self._ws_queue.clear()        # in flight, never delivered
        self._reconnect_at = self.now + duration_s
        self.stats.disconnects += 1

    def _reconnect(self) -> None:
        self.ws_connected = True
        self._reconnect_at = None
        self.connection_id += 1
        self.stats.reconnects += 1
        self._ws_queue.append({"event_type": "connection", "status": "connected",
                               "connection_id": self.connection_id, "timestamp": self.now})
        horizon = self.now - self.config.replay_window_s
        for tr in self.trades.values():
            if tr.matched_at >= horizon and (tr.status != "FAILED" or self.config.failed_trade_reports):
                self.stats.ws_replays_sent += 1
                self._ws_queue.append(tr.message(numeric_id=True, replay=True))

    def reconnect_now(self) -> None:
        if not self.ws_connected:
            self._reconnect()

    # ------------------------------------------------------------------ truth (for tests / the demo summary)
    def true_position(self) -> Decimal:
        """Settled position plus matched trades not yet settled or failed (what the position will be if none of
        them fails): the worst case a guard must account for."""
        bb, _, sb, _ = self._unsettled()
        return self.settled_base + bb - sb

    def open_buy_size(self) -> Decimal:
        return sum((o.remaining for o in self.orders.values() if o.is_live and o.side == "BUY"), ZERO)

    def true_exposure(self) -> Decimal:
        """Worst-case long exposure: settled position + matched-unsettled buys + live buy orders (unsettled sells
        are not netted: they may still fail)."""
        bb, _, _, _ = self._unsettled()
        return self.settled_base + bb + self.open_buy_size()

    def _track_truth(self) -> None:
        e = self.true_exposure()
        if e > self.stats.max_true_exposure:
            self.stats.max_true_exposure = e

    def exchange_info(self) -> dict:
        c = self.config
        return {"markets": [{"symbol": c.trading_pair.replace("-", "/"), "base": c.base, "quote": c.quote,
                             "tick_size": str(c.tick_size), "size_increment": str(c.size_increment),
                             "min_order_size": str(c.min_order_size), "active": True}]}
