"""``inventory-guard hummingbot init PATH`` (``init_root``): shims and example confs into a Hummingbot root."""
from __future__ import annotations

from decimal import Decimal

import pytest

from inventory_guard.hummingbot.install import FILES, InitError, init_root


def test_init_writes_shims_and_confs_and_is_idempotent(tmp_path):
    (tmp_path / "conf").mkdir()
    written = init_root(tmp_path)
    rels = {p.relative_to(tmp_path).as_posix() for p in written}
    assert set(FILES) <= rels
    assert {"scripts/__init__.py", "controllers/__init__.py", "controllers/market_making/__init__.py"} <= rels
    shim = (tmp_path / "scripts" / "inventory_guarded_v2.py").read_text()
    assert "from inventory_guard.hummingbot.script import InventoryGuardedV2, InventoryGuardedV2Config" in shim
    conf = (tmp_path / "conf" / "scripts" / "conf_inventory_guarded_v2_1.yml").read_text()
    assert "script_file_name: inventory_guarded_v2.py" in conf and "inventory_guard:" in conf
    assert init_root(tmp_path) == []                       # nothing to do the second time


def test_init_keeps_existing_files_and_user_packages(tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "__init__.py").write_text("# mine\n")
    target = tmp_path / "conf" / "scripts" / "conf_inventory_guarded_v2_1.yml"
    target.parent.mkdir(parents=True)
    target.write_text("edited: true\n")
    with pytest.raises(InitError, match="conf_inventory_guarded_v2_1.yml"):
        init_root(tmp_path)
    assert not (tmp_path / "scripts" / "inventory_guarded_v2.py").exists()   # nothing written on conflict
    init_root(tmp_path, force=True)
    assert "inventory_guard:" in target.read_text()
    assert (tmp_path / "scripts" / "__init__.py").read_text() == "# mine\n"


def test_init_refuses_a_folder_that_is_not_a_hummingbot_root(tmp_path):
    with pytest.raises(InitError, match="does not look like a Hummingbot root"):
        init_root(tmp_path)
    with pytest.raises(InitError, match="not a directory"):
        init_root(tmp_path / "missing")


# ------------------------------------------------------------------------------------------ the example that trades
def _paper_binance():
    """``binance_paper_trade`` as Hummingbot builds it (ConnectorManager + the client's default paper balance), with
    a static BTC-USDT book in place of Binance's order book stream (no network)."""
    from hummingbot.client.config.client_config_map import ClientConfigMap
    from hummingbot.client.config.config_helpers import ClientConfigAdapter
    from hummingbot.client.settings import AllConnectorSettings
    from hummingbot.core.connector_manager import ConnectorManager
    from hummingbot.core.data_type.order_book_row import OrderBookRow
    ccm = ClientConfigAdapter(ClientConfigMap())
    AllConnectorSettings.initialize_paper_trade_settings(ccm.paper_trade.paper_trade_exchanges)
    paper = ConnectorManager(ccm).create_connector("binance_paper_trade", ["BTC-USDT"])
    tracker = paper.order_book_tracker
    tracker.start = tracker.stop = lambda: None            # never connect to Binance
    book = tracker.data_source.order_book_create_function()
    book.apply_snapshot([OrderBookRow(99990.0, 5.0, 1)], [OrderBookRow(100010.0, 5.0, 1)], 1)
    tracker._order_books["BTC-USDT"] = book
    tracker._order_books_initialized.set()
    return paper


def test_shipped_example_trades_on_binance_paper_trade_with_resizes_and_blocks(hb_env, caplog):
    """The conf and shim `init` writes, loaded by Hummingbot's own V2 loader, on a real ``binance_paper_trade``
    ``PaperTradeExchange`` with Hummingbot's default paper balance: orders are placed, resized and blocked, and the
    paper BTC balance never passes the limit."""
    import asyncio
    import logging
    import time
    from types import SimpleNamespace

    import yaml
    from hummingbot.core.clock import Clock
    from hummingbot.core.clock_mode import ClockMode
    from hummingbot.core.event.event_logger import EventLogger
    from hummingbot.core.event.events import MarketEvent
    from hummingbot.core.trading_core import TradingCore

    from support.guard import counter
    from support.hummingbot import drive

    root = hb_env
    conf = yaml.safe_load((root / "conf" / "scripts" / "conf_inventory_guarded_example_1.yml").read_text())
    cls, cfg = TradingCore.load_v2_class(SimpleNamespace(_load_strategy_config=lambda: conf),
                                         "inventory_guarded_example")
    assert cls.__name__ == "InventoryGuardedExample" and dict(cls.markets) == {"binance_paper_trade": {"BTC-USDT"}}
    limit = cfg.inventory_guard.max_position
    assert limit == Decimal("1.25")

    async def run():
        paper = _paper_binance()
        assert paper.get_balance("BTC") == Decimal(1)          # Hummingbot's default paper balance
        events = EventLogger()
        paper.add_listener(MarketEvent.OrderFilled, events)
        strat = cls({"binance_paper_trade": paper}, cfg)
        t0 = float(int(time.time()))                          # live Hummingbot runs on wall time
        clock = Clock(ClockMode.BACKTEST, 1.0, t0, t0 + 3600)
        clock.add_iterator(paper)
        clock.add_iterator(strat)
        peak = Decimal(0)
        with caplog.at_level(logging.INFO):
            for _ in range(13):                                # 130 s: three cycles of buy, buy, buy, sell
                await drive(clock, 10)
                peak = max(peak, paper.get_balance("BTC"))
        (market,) = strat.inventory_guard.markets            # BTC-USDT (or BTC: one market per asset)
        counters = strat.inventory_guard.counters(market)
        await strat.on_stop()
        return paper, events, counters, peak, strat

    paper, events, counters, peak, strat = asyncio.run(run())
    fills = [e for e in events.event_log if type(e).__name__ == "OrderFilledEvent"]
    bought: dict = {}                                          # buy order id -> filled amount (paper fills are
    for e in fills:                                            # Decimal(float): rounded to the paper's 1e-7 step)
        if e.trade_type.name == "BUY":
            bought[e.order_id] = bought.get(e.order_id, 0) + Decimal(e.amount).quantize(Decimal("1e-7"))
    sold = {e.order_id for e in fills if e.trade_type.name == "SELL"}
    assert strat.sent == {"buy": 9, "sell": 3}                 # 130 s: three cycles of buy, buy, buy, sell
    assert len(sold) == 3                                      # sells placed and filled on paper
    assert Decimal("0.1") in bought.values(), bought           # buys placed and filled in full ...
    assert len([a for a in bought.values() if 0 < a < Decimal("0.1")]) >= 2, bought     # ... and resized
    assert len(bought) < strat.sent["buy"]                     # blocked buys never reached the connector
    assert counter(counters, "orders_resized", side="buy") >= 2
    assert counter(counters, "orders_blocked", side="buy", reason="position_limit") >= 2
    assert Decimal("1.1") <= peak <= limit                     # towards the limit, never past it
    msgs = [r.getMessage() for r in caplog.records if r.name == "inventory_guard"]
    assert any("buy resized 0.1" in m for m in msgs), msgs
    assert any("buy of 0.1" in m and "blocked (position_limit)" in m for m in msgs), msgs
