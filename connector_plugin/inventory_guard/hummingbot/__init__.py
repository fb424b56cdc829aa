"""Hummingbot adapter for inventory-guard (the only code that imports hummingbot; imported lazily from here).

Public API (what a script, a controller or the demo uses)::

    from inventory_guard.hummingbot import GuardBridge
    bridge = GuardBridge(config, {"binance": connector}, journal_path="data/ig.sqlite",
                         markets={"binance": ["BTC-USDT"]}, clock=None).attach()
    connector.buy(...)            # every order on an attached (Python) connector passes the gate: placed, resized,
                                  # or blocked (its id gets the connector's MarketOrderFailureEvent)
    bridge.check("binance", "BTC-USDT", "buy", Decimal("0.5"), position_action=None) -> Decision(allowed, size, reason)
    bridge.on_tick(ts)            # Tick, restore sync (first tick), paper snapshots, balance requests, reconciles
    bridge.status_rows() / bridge.format_status()                              # per-market table
    bridge.trade_failed(name, pair, trade_id, order_id=None) / bridge.trade_settled(name, pair, trade_id, order_id=None)
    bridge.snapshot_now(name) / bridge.request_reconcile(name, "manual") / bridge.snapshot_requests(name)
    bridge.halted, bridge.halt(market, what, exc), bridge.resume(market)
    bridge.stop() (strategy stopped: apply late cancels, then close) / bridge.detach() / bridge.close()
    bridge.user_stream_down(name) / bridge.user_stream_up(name)   # connectors with their own stream notifications
    bridge.executor_approved(id, name, pair, side, amount) / bridge.executor_finished(id)   # (ExecutorGuard does it)
    bridge.market_id(name, pair), bridge.markets, bridge.state(market), bridge.counters(market)

Market ids (``markets.py``): spot = one market per asset and connector (``BTC``; ``binance:BTC`` with several
connectors); perpetuals = per contract (``BTC-USDT``), in HEDGE mode the legs ``BTC-USDT:long`` / ``BTC-USDT:short``.

The parts (one job each): ``markets.MarketMap``, ``core_port.CorePort`` (the core/journal, clock),
``halts.HaltLatch``, ``connector_gate.ConnectorGate``, ``snapshots.SnapshotFeed``, ``reservations.Reservations``,
``reconcile.StreamHealth``, ``order_events.OrderEvents``; ``events`` holds the adapter's PubSub tags
(``GuardEvent.TradeFailed`` / ``TradeSettled``) without importing anything, for connectors (the simulated venue).

``config`` is a core ``GuardConfig`` (or its dict), or an ``InventoryGuardSettings`` (the strategy YAML section).
With a core config the adapter's own keys (``AdapterSettings``) are keyword options, e.g.
``GuardBridge(config, connectors, user_stream_silence_s=None)``; their defaults are the section's.

Strategy side: ``GuardedStrategyV2Base`` / ``InventoryGuardMixin`` + ``GuardedStrategyV2ConfigBase`` (script.py),
``guard_orchestrator(orchestrator, bridge)`` / ``GuardedControllerMixin`` (controllers.py),
``InventoryGuardSettings`` (config.py), ``init_root(path)`` (install.py, no hummingbot import).
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "GuardBridge": "bridge", "bridge_for_connector": "bridge",
    "GuardEvent": "events", "TradeFailedEvent": "events", "TradeSettledEvent": "events",
    "InventoryGuardSettings": "config", "InventoryGuardMarketSettings": "config", "AdapterSettings": "config",
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
