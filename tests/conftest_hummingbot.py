"""Shared, offline fixtures for tests that drive real Hummingbot objects (import what you need from this module).

* ``hb_root(tmp_path)`` -> a Hummingbot root made by ``init_root`` (scripts/, controllers/, conf/), on sys.path.
* ``hb_env`` fixture: stubs ``MarketsRecorder`` and ``HummingbotApplication.main_application()``, points Hummingbot's
  conf dirs at the root and chdirs there (the V2 loader resolves ``scripts/`` against the CWD).
* ``make_paper()``: ``MockPaperExchange`` with a synthetic HBOT-USDT book (mid 100), 0 HBOT / 10000 USDT.
* ``make_binance()``: a real ``BinanceExchange`` with mocked REST (account, order placement, cancel), trading rules
  and symbol map set, reporting ready.
* ``drive(clock, seconds, real_sleep)``: advance a BACKTEST clock 1 s at a time, yielding to the loop.
* ``trade_update(...)`` / ``order_update(...)``: user-stream style updates for ``connector._order_tracker``.
"""
from __future__ import annotations

import asyncio
import sys
from decimal import Decimal
from pathlib import Path
from unittest.mock import AsyncMock, MagicMock, patch

import pytest

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


def hb_root(tmp_path: Path) -> Path:
    from inventory_guard.hummingbot.install import init_root
    root = tmp_path / "hbroot"
    (root / "conf").mkdir(parents=True)
    init_root(root)
    return root


@pytest.fixture
def hb_env(tmp_path, monkeypatch):
    from hummingbot.client import settings
    from hummingbot.connector.markets_recorder import MarketsRecorder
    root = hb_root(tmp_path)
    rec = MagicMock()
    rec.get_all_executors.return_value = []
    rec.get_all_positions.return_value = []
    monkeypatch.setattr(MarketsRecorder, "_shared_instance", rec)
    monkeypatch.setattr(settings, "CONTROLLERS_CONF_DIR_PATH", root / "conf" / "controllers")
    monkeypatch.setattr(settings, "SCRIPT_STRATEGY_CONF_DIR_PATH", root / "conf" / "scripts")
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    for name in [m for m in sys.modules if m == "scripts" or m.startswith(("scripts.", "controllers"))]:
        monkeypatch.delitem(sys.modules, name)
    with patch("hummingbot.client.hummingbot_application.HummingbotApplication.main_application",
               return_value=MagicMock(_mqtt=None)):
        yield root


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
                raise IOError("account endpoint down")
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
