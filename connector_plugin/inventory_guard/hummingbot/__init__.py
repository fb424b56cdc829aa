"""Hummingbot adapter for inventory-guard (the only code that imports hummingbot; imported lazily from here).

Public API (what a script, a controller or the demo uses)::

    from inventory_guard.hummingbot import GuardBridge
    bridge = GuardBridge(config, {"binance": connector}, journal_path="data/ig.sqlite",
                         markets={"binance": ["BTC-USDT"]}, clock=None).attach()
    bridge.check("binance", "BTC-USDT", "buy", Decimal("0.5")) -> Decision(allowed, size, reason)
    bridge.order_opened("binance", "BTC-USDT", order_id, "buy", size, price)   # right after placing it
    bridge.on_tick(ts)            # Tick + paper-connector snapshots + stream-silence/periodic reconciles
    bridge.status_rows() / bridge.format_status()                              # per-market table
    bridge.snapshot_now(name) / bridge.request_reconcile(name, "manual") / bridge.trade_failed(name, pair, trade_id)
    bridge.faulted, bridge.resume(market), bridge.detach(), bridge.close()
    bridge.user_stream_down(name) / bridge.user_stream_up(name)   # connectors with their own stream notifications
    bridge.executor_approved(id, name, pair, side, amount) / bridge.executor_finished(id)   # (ExecutorGuard does it)

Keyword options: ``user_stream_silence_s`` (None = off), ``periodic_reconcile_s``, ``websocket_balance_snapshots``,
``reconcile_event`` ("force" = ForceReconcile, or "snapshot" = keep pending fills a lagging balance API does not show
yet), ``cancel_release_delay_s`` (a cancelled/failed/expired order keeps its reservation while the user stream is
down and this long after it is back). At attach, balances the connector already holds are the first snapshot and
open orders are synced with the journal (reservations of orders gone since a restart are released).

``config`` is a core ``GuardConfig`` (or its dict), or an ``InventoryGuardSettings`` (the strategy YAML section).
Attaching subscribes (strong refs) to the connectors' OrderFilled / Buy|SellOrderCreated / completed / cancelled /
failure / expired events and ``GuardEvent.TradeFailed`` (``TradeFailedEvent``: a connector whose venue reports a
matched trade that later failed triggers it), wraps ``_update_balances`` / ``_update_positions`` of ExchangePyBase
connectors (REST snapshots with their time), watches websocket balance writes and user-stream reconnects/silence.
Connectors that cannot be hooked (paper/mock) have their balances read as snapshots on every ``on_tick``.

Market ids: the trading pair with one connector, ``connector:pair`` with several; each market's ``connector`` is
set in the GuardConfig. Spot position = total base-asset balance; perpetual position = signed position amount.

Strategy side: ``GuardedStrategyV2Base`` / ``InventoryGuardMixin`` + ``GuardedStrategyV2ConfigBase`` (script.py),
``guard_orchestrator(orchestrator, bridge)`` / ``GuardedControllerMixin`` (controllers.py),
``InventoryGuardSettings`` (config.py), ``init_root(path)`` (install.py, no hummingbot import).
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "GuardBridge": "bridge", "bridge_for_connector": "bridge",
    "GuardEvent": "events", "TradeFailedEvent": "events", "TradeSettledEvent": "events",
    "InventoryGuardSettings": "config", "InventoryGuardMarketSettings": "config",
    "InventoryGuardMixin": "script", "GuardedStrategyV2Base": "script", "GuardedStrategyV2ConfigBase": "script",
    "ExecutorGuard": "controllers", "guard_orchestrator": "controllers", "GuardedControllerMixin": "controllers",
    "gate_create_action": "controllers",
    "init_root": "install",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
