"""Offline helpers for tests that drive real Hummingbot objects (the ``hb_env`` fixture is in tests/conftest.py).

* ``make_paper()``: ``MockPaperExchange`` with a synthetic HBOT-USDT book (mid 100), 0 HBOT / 10000 USDT.
* ``make_binance()``: a real ``BinanceExchange`` with mocked REST (account, order placement, cancel), trading rules
  and symbol map set, reporting ready.
* ``drive(clock, seconds, real_sleep)``: advance a BACKTEST clock 1 s at a time, yielding to the loop.
* ``limit_buy(ex, amount)``: a limit buy at 100 through the connector, once Hummingbot has reported it.
* ``trade_update(...)`` / ``order_update(...)``: user-stream style updates for ``connector._order_tracker``.
"""
from __future__ import annotations

import asyncio
from decimal import Decimal
from unittest.mock import AsyncMock

try:  # never a silent skip: the README's test command installs the hummingbot extra
    import hummingbot  # noqa: F401
except ImportError as exc:
    raise ImportError("the Hummingbot tests need the hummingbot extra (bash connector_plugin/bootstrap.sh test "
                      "installs it)") from exc

D = Decimal
PAPER = "mock_paper_exchange"
PAPER_PAIR = "HBOT-USDT"
BIN = "binance"
BIN_PAIR = "BTC-USDT"


def make_paper(hbot: str = "0", usdt: str = "10000"):
    from hummingbot.connector.test_support.mock_paper_exchange import MockPaperExchange
    ex = MockPaperExchange()
    ex.set_balanced_order_book(PAPER_PAIR, 100, 50, 150, 1, 10)
    ex.set_balance("HBOT", D(hbot))
    ex.set_balance("USDT", D(usdt))
    return ex


def _offline_binance_class():
    from hummingbot.connector.exchange.binance.binance_exchange import BinanceExchange

    class OfflineBinance(BinanceExchange):
        """A real BinanceExchange; only readiness is forced (no network to initialise order books)."""

        @property
        def ready(self):
            return True

        @property
        def name(self):
            return "binance"

    return OfflineBinance


def make_binance(btc_free="1.0", btc_locked="0", usdt="100000", pairs=(BIN_PAIR,)):
    from bidict import bidict
    from hummingbot.connector.exchange.binance import binance_constants as CONSTANTS
    from hummingbot.connector.trading_rule import TradingRule
    ex = _offline_binance_class()(binance_api_key="k", binance_api_secret="s", trading_pairs=list(pairs))
    for p in pairs:
        ex._trading_rules[p] = TradingRule(p, min_order_size=D("0.0001"), min_price_increment=D("0.01"),
                                           min_base_amount_increment=D("0.0001"), min_notional_size=D("1"))
    ex._set_trading_pair_symbol_map(bidict({p.replace("-", ""): p for p in pairs}))
    ex.account = {"balances": [{"asset": "BTC", "free": btc_free, "locked": btc_locked},
                               {"asset": "USDT", "free": usdt, "locked": "0"}]}
    ex.fail_account = False

    async def api_get(path_url, **kwargs):
        if path_url == CONSTANTS.ACCOUNTS_PATH_URL:
            if ex.fail_account:
                raise OSError("account endpoint down")
            return ex.account
        return []
    ex._api_get = AsyncMock(side_effect=api_get)
    ex.placed = []

    async def place_order(order_id, trading_pair, amount, trade_type, order_type, price, **kwargs):
        ex.placed.append((order_id, trading_pair, amount, trade_type, price))
        return f"EX-{len(ex.placed)}", ex.current_timestamp
    ex._place_order = AsyncMock(side_effect=place_order)
    ex._place_cancel = AsyncMock(return_value=True)
    ex._update_time_synchronizer = AsyncMock()
    ex.start_network = AsyncMock()           # never open sockets, even when a Clock starts the connector
    ex._set_current_timestamp(1000.0)
    for p in pairs:                          # a static book around 100 (mid price for executors/reports)
        from hummingbot.core.data_type.order_book import OrderBook
        from hummingbot.core.data_type.order_book_row import OrderBookRow
        book = OrderBook()
        book.apply_snapshot([OrderBookRow(99.5, 10, 1)], [OrderBookRow(100.5, 10, 1)], 1)
        ex.order_book_tracker._order_books[p] = book
    return ex


async def limit_buy(ex, amount: str, pair: str = BIN_PAIR) -> str:
    """``ex.buy`` a limit order at 100, and let Hummingbot report it (BuyOrderCreated -> the guard's order_open)."""
    from hummingbot.core.data_type.common import OrderType
    oid = ex.buy(pair, D(amount), OrderType.LIMIT, D("100"))
    await asyncio.sleep(0.05)
    return oid


def set_account(ex, btc_free, btc_locked="0"):
    ex.account = {"balances": [{"asset": "BTC", "free": str(btc_free), "locked": str(btc_locked)},
                               {"asset": "USDT", "free": "100000", "locked": "0"}]}


def trade_update(ex, order_id, amount, price="100", trade_id="T1", fee=None, ts=None):
    from hummingbot.core.data_type.in_flight_order import TradeUpdate
    from hummingbot.core.data_type.trade_fee import AddedToCostTradeFee
    order = ex._order_tracker.fetch_order(client_order_id=order_id)
    return TradeUpdate(trade_id=trade_id, client_order_id=order_id,
                       exchange_order_id=order.exchange_order_id or "EX-1",
                       trading_pair=order.trading_pair, fill_timestamp=ts or ex.current_timestamp,
                       fill_price=D(price), fill_base_amount=D(amount), fill_quote_amount=D(amount) * D(price),
                       fee=fee or AddedToCostTradeFee())


def order_update(ex, order_id, state, ts=None):
    from hummingbot.core.data_type.in_flight_order import OrderUpdate
    order = ex._order_tracker.fetch_order(client_order_id=order_id)
    return OrderUpdate(client_order_id=order_id, exchange_order_id=order.exchange_order_id,
                       trading_pair=order.trading_pair, update_timestamp=ts or ex.current_timestamp,
                       new_state=state)


async def drive(clock, seconds, real_sleep=0.0):
    start = clock.current_timestamp
    for t in range(int(start) + 1, int(start + seconds) + 1):
        clock.backtest_til(t)
        await asyncio.sleep(real_sleep)


class FakeClock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


def set_mid(ex, pair, mid, update_id=2):
    """Replace the offline connector's static book with one around ``mid`` (what executors read as the price)."""
    from hummingbot.core.data_type.order_book_row import OrderBookRow
    book = ex.order_book_tracker._order_books[pair]
    book.apply_snapshot([OrderBookRow(float(mid) - 0.5, 100, update_id)],
                        [OrderBookRow(float(mid) + 0.5, 100, update_id)], update_id)


class VenueFills:
    """Plays the venue for an offline ``make_binance`` connector: every order that reached ``_place_order`` is
    filled in full (at its price, or the mid for market orders) and the REST account moves with it."""

    def __init__(self, ex, btc="0"):
        self.ex, self.btc, self.done = ex, D(btc), set()

    def pump(self):
        from hummingbot.core.data_type.common import TradeType
        from hummingbot.core.data_type.in_flight_order import OrderState
        for oid, pair, amount, trade_type, price in list(self.ex.placed):
            order = self.ex._order_tracker.fetch_order(client_order_id=oid)
            if oid in self.done or order is None or order.exchange_order_id is None:
                continue
            self.done.add(oid)
            px = price if price is not None and price.is_finite() else self.ex.get_mid_price(pair)
            self.ex._order_tracker.process_trade_update(trade_update(self.ex, oid, str(amount), price=str(px),
                                                                     trade_id=f"T-{oid}"))
            self.ex._order_tracker.process_order_update(order_update(self.ex, oid, OrderState.FILLED))
            self.btc += amount if trade_type == TradeType.BUY else -amount
            set_account(self.ex, self.btc)


def failures(ex):
    """Record the connector's MarketOrderFailureEvents: returns (list, forwarder to keep alive)."""
    from hummingbot.core.event.event_forwarder import EventForwarder
    from hummingbot.core.event.events import MarketEvent
    seen: list = []
    fwd = EventForwarder(seen.append)
    ex.add_listener(MarketEvent.OrderFailure, fwd)
    return seen, fwd


def guarded_strategy(connectors, guard: dict, markets: dict, **extra):
    """The shipped controllers-only guarded script, with no controllers (tests place orders and create executors
    directly) on ``markets`` ({connector: [pairs]}); a subclass per call, as ``init_markets`` sets class state."""
    from inventory_guard.hummingbot.script import InventoryGuardedV2, InventoryGuardedV2Config

    class TestGuarded(InventoryGuardedV2):
        pass

    cfg = InventoryGuardedV2Config(controllers_config=[], markets=markets, **extra,
                                   inventory_guard={"journal_path": None, "user_stream_silence_s": None, **guard})
    TestGuarded.init_markets(cfg)
    return TestGuarded(connectors, cfg)


PERP = "binance_perpetual"


def make_binance_perp(pairs=(BIN_PAIR,), hedge=False, positions=()):
    """A real ``BinancePerpetualDerivative`` (PerpetualDerivativePyBase) with order placement and REST polls mocked.
    ``positions``: (pair, "LONG"/"SHORT", amount) tuples."""
    from bidict import bidict
    from hummingbot.connector.derivative.binance_perpetual.binance_perpetual_derivative import (
        BinancePerpetualDerivative,
    )
    from hummingbot.connector.trading_rule import TradingRule
    from hummingbot.core.data_type.common import PositionMode
    from hummingbot.core.data_type.order_book import OrderBook
    from hummingbot.core.data_type.order_book_row import OrderBookRow

    class OfflinePerp(BinancePerpetualDerivative):
        @property
        def ready(self):
            return True

    ex = OfflinePerp(binance_perpetual_api_key="k", binance_perpetual_api_secret="s", trading_pairs=list(pairs))
    for p in pairs:
        ex._trading_rules[p] = TradingRule(p, min_order_size=D("0.001"), min_price_increment=D("0.01"),
                                           min_base_amount_increment=D("0.001"), min_notional_size=D("1"))
        book = OrderBook()
        book.apply_snapshot([OrderBookRow(99.5, 10, 1)], [OrderBookRow(100.5, 10, 1)], 1)
        ex.order_book_tracker._order_books[p] = book
    ex._set_trading_pair_symbol_map(bidict({p.replace("-", ""): p for p in pairs}))
    ex._perpetual_trading.set_position_mode(PositionMode.HEDGE if hedge else PositionMode.ONEWAY)
    ex._account_balances["USDT"] = D("100000")
    ex._account_available_balances["USDT"] = D("100000")
    ex.placed = []

    async def place_order(order_id, trading_pair, amount, trade_type, order_type, price, position_action=None,
                          **kwargs):
        ex.placed.append((order_id, trading_pair, amount, trade_type, price, position_action))
        return f"EX-{len(ex.placed)}", ex.current_timestamp
    ex._place_order = AsyncMock(side_effect=place_order)
    ex._update_balances = AsyncMock()
    ex._update_positions = AsyncMock()
    ex._update_time_synchronizer = AsyncMock()
    ex.start_network = AsyncMock()
    ex._set_current_timestamp(1000.0)
    for pair, side, amount in positions:
        set_position(ex, pair, side, amount)
    return ex


def set_position(ex, pair, side, amount):
    from hummingbot.connector.derivative.position import Position
    from hummingbot.core.data_type.common import PositionSide
    ps = PositionSide[side]
    key = ex._perpetual_trading.position_key(pair, ps)
    if D(amount) == 0:
        ex._perpetual_trading.remove_position(key)
        return
    signed = abs(D(amount)) if ps == PositionSide.LONG else -abs(D(amount))
    ex._perpetual_trading.set_position(key, Position(pair, ps, D(0), D(100), signed, D(1)))
