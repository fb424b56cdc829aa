"""GuardBridge: wires Hummingbot connectors to the inventory-guard core. It owns the parts, each with one job:

* ``markets.MarketMap`` — which guard market an order, fill or balance belongs to (per asset on spot, per
  contract on perpetuals, long/short legs in HEDGE mode);
* ``core_port.CorePort`` — the one door to the core / journal (typed ``Core`` interface) and its clock;
* ``halts.HaltLatch`` — fail closed: a guard error halts the market, orders adding exposure are blocked;
* ``connector_gate.ConnectorGate`` — every order entering a guarded connector is placed, resized or blocked;
* ``snapshots.SnapshotFeed`` — REST / websocket balances and positions as snapshots, and balance requests for
  fills waiting for one;
* ``reservations.Reservations`` — open orders and executor budgets as reservations, synced with what the
  connectors track;
* ``reconcile.StreamHealth`` — user-stream outages, reconnects, silence and periodic reconciles;
* ``order_events.OrderEvents`` — the connectors' fill / order lifecycle / trade-fate events as core events.

The bridge builds and attaches them, syncs reservations with the connectors' orders, ticks them, and stops.
Nothing here raises into Hummingbot: a guard error halts the market (``halts``).
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import math
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from inventory_guard import events as E
from inventory_guard.config import GuardConfig
from inventory_guard.core import Decision

from .config import AdapterSettings, InventoryGuardSettings, resolve_overrides
from .connector_gate import ConnectorGate
from .core_port import CorePort
from .events import GuardEvent, TradeFailedEvent, TradeSettledEvent
from .markets import MarketMap, MarketRef, Route
from .order_events import OrderEvents
from .reconcile import StreamHealth
from .reservations import Reservations
from .snapshots import SnapshotFeed
from .translate import _side, executor_context, fee_in_base

__all__ = ["GuardBridge", "GuardEvent", "TradeFailedEvent", "TradeSettledEvent", "MarketRef", "executor_context",
           "fee_in_base", "bridge_for_connector"]

log = logging.getLogger("inventory_guard.hummingbot")

STOP_GRACE_S = 60.0

_BRIDGES: weakref.WeakValueDictionary[int, GuardBridge] = weakref.WeakValueDictionary()
_JOURNALS: weakref.WeakValueDictionary[str, GuardBridge] = weakref.WeakValueDictionary()


@atexit.register
def _close_stopped_bridges():
    """A stopped strategy's bridge still waiting for late cancels when the process exits: close its journal."""
    for bridge in list(_JOURNALS.values()):
        if bridge._stopping:
            bridge.close()


def bridge_for_connector(connector) -> GuardBridge | None:
    """The attached bridge guarding this connector object, if any (used by guarded controllers)."""
    return _BRIDGES.get(id(connector))


class GuardBridge:
    """See the package docstring for the public API."""

    def __init__(self, config, connectors: Mapping[str, object], journal_path: str | Path | None = None, *,
                 markets: Mapping[str, Iterable[str]] | None = None,
                 clock: Callable[[], float] | None = None, **options):
        """``options``: the adapter's own keys (``AdapterSettings``: ``user_stream_silence_s=``, ...) for a core
        ``config``; an ``InventoryGuardSettings`` carries them itself."""
        self.connectors = dict(connectors)
        self.map = MarketMap(self.connectors, self._resolve_pairs(markets))
        if isinstance(config, InventoryGuardSettings):
            if options:
                raise TypeError(f"GuardBridge: {', '.join(options)}: set in the inventory_guard section instead")
            adapter = config
            if journal_path is None and config.journal_path:
                journal_path = config.journal_path
            config = config.to_guard_config(self.map)
        else:
            adapter = AdapterSettings(**options)
            config = self._complete_config(config)
        self.config: GuardConfig = config
        path = Path(journal_path) if journal_path else None
        if path is not None:
            previous = _JOURNALS.get(str(path.resolve()))
            if previous is not None:        # a stopped strategy's bridge still waiting for late cancels
                previous.close()
        self.adapter_counters: Counter = Counter()       # (connector, name) -> n
        self.core = CorePort(config, path, clock or self._default_clock)
        if path is not None:
            _JOURNALS[str(path.resolve())] = self
        self.health = StreamHealth(self.core.now, self.request_reconcile, silence_s=adapter.user_stream_silence_s,
                                   periodic_s=adapter.periodic_reconcile_s,
                                   cancel_release_delay_s=adapter.cancel_release_delay_s)
        self.reservations = Reservations(self.core, self.health.settled)
        self.reservations.fill_wait_s = float(max(config.market(r.market).pending_fill_max_age_s
                                                  for r in self.map.all_refs()))
        self.gate = ConnectorGate(self.core, self.map, self.reservations)
        self.feed = SnapshotFeed(self.core, self.map, self.adapter_counters,
                                 websocket_snapshots=adapter.websocket_balance_snapshots,
                                 reconcile_event=adapter.reconcile_event,
                                 request_interval_s=adapter.snapshot_request_interval_s,
                                 api_lag_s=adapter.balance_api_lag_s)
        self.core.clear_previous_run_halts(r.market for r in self.map.all_refs())
        self.events = OrderEvents(self.core, self.map, self.reservations,
                                  cancel_hold_s=lambda: self.health.cancel_release_delay_s,
                                  stopping=lambda: self._stopping, after=self._maybe_close, halt=self.halt)
        self._unhooks: list[Callable[[], None]] = []
        self._tick_hooks: list[Callable[[float], None]] = []
        self._synced_after_restore = False
        self._stopping = False
        self._close_timer: asyncio.TimerHandle | None = None
        self.attached = False

    # ------------------------------------------------------------------ setup
    def _resolve_pairs(self, markets) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for cname, conn in self.connectors.items():
            pairs = None if markets is None else markets.get(cname)
            if pairs is None:
                pairs = getattr(conn, "trading_pairs", None) or getattr(conn, "_trading_pairs", None) or []
            out.extend((cname, p) for p in pairs)
        return out

    def _complete_config(self, config) -> GuardConfig:
        cfg = config if isinstance(config, GuardConfig) else GuardConfig.model_validate(config)
        data = cfg.model_dump(exclude={"markets"})
        top = {k: getattr(cfg, k) for k in cfg.model_fields_set if k != "markets"}
        overrides = {k: m.model_dump(exclude_none=True) for k, m in cfg.markets.items()}
        data["markets"] = resolve_overrides(overrides, self.map, top=top, prefix="markets.", strict=False)
        if "connector" not in cfg.model_fields_set and len(self.connectors) == 1:
            data["connector"] = next(iter(self.connectors))
        return GuardConfig.model_validate(data)

    def _default_clock(self) -> float:
        ts = [float(getattr(c, "current_timestamp", 0) or 0) for c in self.connectors.values()]
        t = max((x for x in ts if math.isfinite(x)), default=0.0)
        return t if t > 0 else time.time()

    # ------------------------------------------------------------------ the core, read-only views
    @property
    def guard(self):
        """The core object (a ``Guard`` or a ``Journal``)."""
        return self.core.guard

    @property
    def halted(self) -> dict[str, str]:
        return self.core.halted

    def now(self, ts: float | None = None) -> float:
        return self.core.now(ts)

    def _t(self, ts: float | None = None) -> Decimal:
        return self.core.t(ts)

    def market_id(self, connector_name: str, trading_pair: str) -> str | None:
        r = self.map.market_ref(connector_name, trading_pair)
        return r.market if r else None

    @property
    def markets(self) -> list[str]:
        return [r.market for r in self.map.active_refs()]

    def ref(self, market: str) -> MarketRef:
        ref = self.map.by_market(market)
        if ref is None:
            raise KeyError(market)
        return ref

    def refs_for(self, connector_name: str) -> list[MarketRef]:
        return self.map.refs_for(connector_name)

    def state(self, market: str):
        return self.core.state(market)

    def counters(self, market: str) -> dict:
        return self.core.counters(market)

    def position_of(self, r: MarketRef) -> Decimal:
        return self.map.position(r)

    # ------------------------------------------------------------------ fail closed
    def halt(self, market: str | None, what: str, exc: BaseException):
        """Halt ``market`` (every market when None) after a guard error: orders adding exposure are blocked until
        resume."""
        self.core.halt(market, what, exc, markets=[r.market for r in self.map.all_refs()])

    _halt = halt

    def resume(self, market: str):
        self.core.resume(market)

    # ------------------------------------------------------------------ the gate
    def _route(self, connector_name: str, trading_pair: str, side, position_action=None) -> Route | None:
        return self.events.route(connector_name, trading_pair, side, position_action)

    def check(self, connector_name: str, trading_pair: str, side, amount: Decimal,
              position_action=None) -> Decision:
        """Would an order be placed? (The connector gate's decision, without placing or reserving.) Never raises."""
        route = self._route(connector_name, trading_pair, side, position_action)
        if route is None:
            side = side if isinstance(side, str) else _side(side)
            return self.gate.unknown_market(connector_name, trading_pair, side, amount)
        try:
            return self.gate.decide(route, Decimal(amount))
        except Exception as exc:
            self._halt(route.ref.market, "checking an order", exc)
            return self.gate.block(route.ref.market, route.side, E.BlockReason.GUARD_ERROR)

    def place(self, connector_name: str, side: E.Side, trading_pair: str, amount, order_type, price, kwargs: dict,
              send: Callable[[Decimal], str]) -> str:
        """Gate one order and place it with ``send(size)`` (the strategy-level gate for connectors that cannot be
        wrapped). Returns the order id, of a failing order when blocked."""
        return self.gate.place(connector_name, self.connectors[connector_name], send, side, trading_pair, amount,
                               order_type, price, kwargs)

    def gates_connector(self, connector_name: str) -> bool:
        """True when the connector's own buy/sell are gated (every order placed on it passes the gate)."""
        return self.gate.wraps(connector_name, self.connectors.get(connector_name))

    # ------------------------------------------------------------------ reservations (public entry points)
    def order_opened(self, connector_name: str, trading_pair: str, order_id: str, side, amount: Decimal,
                     price: Decimal | None = None, position_action=None):
        """Reserve an order placed outside the gate (the gate reserves its own orders)."""
        route = self._route(connector_name, trading_pair, side, position_action)
        if route is not None:
            self.reservations.opened(connector_name, route, order_id, Decimal(amount), price)

    def order_closed(self, order_id: str):
        self.reservations.closed(order_id)

    def executor_approved(self, executor_id: str, connector_name: str, trading_pair: str, side, amount: Decimal,
                          position_action=None):
        route = self._route(connector_name, trading_pair, side, position_action)
        if route is not None:
            self.reservations.approve_budget(executor_id, route, Decimal(amount))

    def executor_finished(self, executor_id: str):
        self.reservations.finish_executor(executor_id)

    # ------------------------------------------------------------------ attaching
    def attach(self) -> GuardBridge:
        from .logging_setup import keep_guard_loggers_enabled
        keep_guard_loggers_enabled()        # survive Hummingbot's later dictConfig (headless start, every `start`)
        if self.attached:
            return self
        for cname, conn in self.connectors.items():
            if not self.map.refs_for(cname) and not any(r.connector_name == cname for r in self.map.all_refs()):
                continue
            self.events.subscribe(cname, conn)
            for part in (self.gate, self.feed):
                unhook = part.install(cname, conn)
                if unhook is not None:
                    self._unhooks.append(unhook)
            if not self.gate.wraps(cname, conn):
                log.warning("inventory-guard: %s cannot be wrapped (a Cython connector); its orders are gated only "
                            "when placed through the guarded strategy (script orders, executors)", cname)
            self._unhooks.extend(self.health.install(cname, conn))
            _BRIDGES[id(conn)] = self
        self.sync_orders("attach", release=False)   # Hummingbot has not restored the previous run's orders yet
        for cname, conn in self.connectors.items():
            # The connector fetched its balances before the strategy existed; without this the first snapshot
            # would wait for the next REST poll (up to minutes) with the position taken as 0.
            try:     # balances fetched (a connector may report ready before its first balance poll)
                balances = getattr(conn, "_account_balances", None)
                known = bool(balances) if isinstance(balances, dict) else bool(getattr(conn, "ready", False))
            except Exception:
                known = False
            if known and self.map.refs_for(cname):
                self.feed.snapshot_now(cname)
        self.attached = True
        return self

    def sync_orders(self, when: str, release: bool = True):
        """Match reservations with the orders the connectors track: at attach (reserve what is tracked), and at the
        first tick, after Hummingbot restored the previous run's orders (also release what is not tracked)."""
        live: dict[str, tuple[str, Any]] = {}
        complete = True
        for cname, conn in self.connectors.items():
            try:
                ifo = getattr(conn, "in_flight_orders", None)
            except Exception:
                ifo = None
            if not isinstance(ifo, dict):
                complete = False
                continue
            for oid, o in ifo.items():
                if not getattr(o, "is_done", False):
                    live[oid] = (cname, o)
        try:
            self.reservations.sync(live, complete and release, self._route_of_tracked)
        except Exception:
            log.exception("inventory-guard: could not sync open orders (%s)", when)

    def _route_of_tracked(self, connector_name: str, order) -> Route | None:
        return self._route(connector_name, order.trading_pair, _side(order.trade_type),
                           getattr(order, "position", None))

    def detach(self):
        self.events.unsubscribe_all()
        for unhook in reversed(self._unhooks):
            try:
                unhook()
            except Exception:
                log.exception("inventory-guard: unhook failed")
        self._unhooks.clear()
        for conn in self.connectors.values():
            if _BRIDGES.get(id(conn)) is self:
                del _BRIDGES[id(conn)]
        self.feed.cancel_tasks()
        self.attached = False

    def close(self):
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self.detach()
        self.core.close()

    def stop(self, grace_s: float = STOP_GRACE_S):
        """The strategy stopped: executors' budgets are released; the bridge keeps listening so cancels Hummingbot
        sends after stopping the strategy are still applied, and closes once no order is open or after
        ``grace_s`` (a new bridge on the same journal closes it first)."""
        if self._stopping or self.core.closed:
            return
        self._stopping = True
        for key in list(self.reservations.budgets):
            self.reservations.finish_executor(key[0])
        for oid in list(self.reservations.deferred) + list(self.reservations.awaiting_fills):
            self.reservations.closed(oid)
        if self._maybe_close():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.close()
            return
        log.info("inventory-guard: strategy stopped; applying cancels of open orders for up to %.0f s", grace_s)
        self._close_timer = loop.call_later(grace_s, self.close)

    def _maybe_close(self) -> bool:
        if self._stopping and not self.core.closed and not self.core.open_orders():
            self.close()
            return True
        return False

    # ------------------------------------------------------------------ the venue's reports of a trade's fate
    def trade_failed(self, connector_name: str, trading_pair: str, trade_id: str, order_id: str | None = None):
        """The venue reports that a matched trade failed (a phantom fill): the core's ``trade_failed``."""
        self.events.trade_failed(connector_name, trading_pair, trade_id, order_id)

    def trade_settled(self, connector_name: str, trading_pair: str, trade_id: str, order_id: str | None = None):
        """The venue reports a trade final: the core's ``fill_settled``."""
        self.events.trade_settled(connector_name, trading_pair, trade_id, order_id)

    def user_stream_down(self, connector_name: str):
        self.health.down(connector_name)

    def user_stream_up(self, connector_name: str, reconnect: bool = True):
        self.health.up(connector_name, reconnect)

    # ------------------------------------------------------------------ snapshots and reconciles
    def snapshot_now(self, connector_name: str | None = None, reason: str | None = None):
        self.feed.snapshot_now(connector_name, reason)

    def request_reconcile(self, connector_name: str, reason: str):
        self.feed.request_reconcile(connector_name, reason)

    # ------------------------------------------------------------------ ticks and status
    def add_tick_hook(self, hook: Callable[[float], None]):
        self._tick_hooks.append(hook)

    def remove_tick_hook(self, hook: Callable[[float], None]):
        if hook in self._tick_hooks:
            self._tick_hooks.remove(hook)

    def on_tick(self, ts: float | None = None):
        if self.core.closed:
            return
        t = self.now(ts)
        if not self._synced_after_restore:
            self._synced_after_restore = True        # Hummingbot restores tracked orders after the strategy exists
            self.sync_orders("first tick")
        self.core.apply(E.Tick(self._t()), None, "ticking")
        self.feed.on_tick()
        self.reservations.release_deferred(t)
        self.health.on_tick(t, list(self.connectors))
        self.feed.request_for_pending(t)
        for hook in list(self._tick_hooks):
            try:
                hook(t)
            except Exception:
                log.exception("inventory-guard: tick hook failed")
        self._maybe_close()

    def snapshot_requests(self, connector_name: str) -> int:
        return self.adapter_counters[(connector_name, "snapshot_requests")]

    def status_rows(self) -> list[dict]:
        from .status import status_rows
        return status_rows(self)

    def format_status(self) -> str:
        from .status import format_table
        return format_table(self.status_rows())
