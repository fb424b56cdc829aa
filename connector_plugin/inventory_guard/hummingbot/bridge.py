"""GuardBridge: the one object between Hummingbot connectors and the inventory-guard core.

It owns the core (a ``Journal`` when a journal path is given, else an in-memory ``Guard``), turns connector events
into core events, answers gate checks, and fails closed: any exception inside the guard for a market latches that
market as *faulted* (buys refused with reason ``guard_error``, an ERROR log line, a best-effort core ``Halt``) and
never propagates into Hummingbot. ``resume(market)`` clears the latch.

Time: every core event gets ``bridge.now()`` (the ``clock`` callable, default the connectors' clock or wall time),
clamped to be non-decreasing.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
import weakref
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from hummingbot.core.data_type.common import TradeType
from hummingbot.core.event.event_forwarder import EventForwarder
from hummingbot.core.event.events import MarketEvent

from inventory_guard import events as E
from inventory_guard.config import GuardConfig
from inventory_guard.core import Decision, Guard
from inventory_guard.events import InvalidEvent

from . import snapshots
from .reservations import Reservations
from .translate import (
    GuardEvent, MarketRef, TradeFailedEvent, _is_perp, _side, _text, executor_context, fee_in_base,
)
from .config import InventoryGuardSettings, market_id as _market_id

# Names other modules and users import from here (the event types and helpers live in translate.py).
__all__ = ["GuardBridge", "GuardEvent", "TradeFailedEvent", "MarketRef", "executor_context", "fee_in_base",
           "bridge_for_connector", "GUARD_ERROR", "UNKNOWN_MARKET"]

log = logging.getLogger("inventory_guard.hummingbot")

D0 = Decimal(0)
GUARD_ERROR = "guard_error"
UNKNOWN_MARKET = "unknown_market"

_BRIDGES: "weakref.WeakValueDictionary[int, GuardBridge]" = weakref.WeakValueDictionary()


def bridge_for_connector(connector) -> Optional["GuardBridge"]:
    """The attached bridge guarding this connector object, if any (used by guarded controllers)."""
    return _BRIDGES.get(id(connector))


class GuardBridge(Reservations):
    """See the package docstring for the public API."""

    def __init__(self, config, connectors: Mapping[str, object], journal_path: Optional[str | Path] = None, *,
                 markets: Optional[Mapping[str, Iterable[str]]] = None,
                 clock: Optional[Callable[[], float]] = None,
                 user_stream_silence_s: Optional[float] = None,
                 periodic_reconcile_s: Optional[float] = None,
                 websocket_balance_snapshots: bool = True,
                 reconcile_event: str = "force",
                 cancel_release_delay_s: float = 5.0):
        self.connectors = dict(connectors)
        pairs = self._resolve_markets(markets)
        multi = len(self.connectors) > 1
        self._refs: Dict[Tuple[str, str], MarketRef] = {}
        for cname, pair in pairs:
            base = pair.split("-")[0]
            self._refs[(cname, pair)] = MarketRef(_market_id(cname, pair, multi), cname, pair, base,
                                                  _is_perp(cname, self.connectors[cname]))
        self._by_market: Dict[str, MarketRef] = {r.market: r for r in self._refs.values()}
        if isinstance(config, InventoryGuardSettings):
            user_stream_silence_s = config.user_stream_silence_s
            periodic_reconcile_s = config.periodic_reconcile_s
            websocket_balance_snapshots = config.websocket_balance_snapshots
            reconcile_event = config.reconcile_event
            cancel_release_delay_s = config.cancel_release_delay_s
            if journal_path is None and config.journal_path:
                journal_path = config.journal_path
            config = config.to_guard_config(pairs)
        self.config = self._complete_config(config)
        self.user_stream_silence_s = user_stream_silence_s
        self.periodic_reconcile_s = periodic_reconcile_s
        self.websocket_balance_snapshots = websocket_balance_snapshots
        if reconcile_event not in ("force", "snapshot"):
            raise ValueError("reconcile_event: expected 'force' or 'snapshot'")
        self.reconcile_event = reconcile_event
        self.cancel_release_delay_s = float(cancel_release_delay_s or 0)
        self._stream_down: Dict[str, bool] = {}
        self._stream_up_at: Dict[str, float] = {}
        self._deferred_closes: Dict[str, str] = {}       # order id -> connector name
        self._clock = clock or self._default_clock
        self._last_t = 0.0
        self.journal_path = Path(journal_path) if journal_path else None
        if self.journal_path is not None:
            from .logging_setup import open_journal
            self.journal_path.parent.mkdir(parents=True, exist_ok=True)
            self.guard = open_journal(self.journal_path, self.config)      # quiet replay, one summary line
        else:
            self.guard = Guard(self.config)
        self.faulted: Dict[str, str] = {}
        self._clear_previous_run_faults()
        self._orders: Dict[str, str] = {}              # open order id -> market (orders the core knows about)
        self._executor_budget: Dict[str, Tuple[str, str, Decimal, int]] = {}   # executor id -> (market, side, left, n)
        self._forwarders: List[Tuple[object, Enum, EventForwarder]] = []
        self._unhooks: List[Callable[[], None]] = []
        self._hooked_rest: set = set()                 # connector names whose REST snapshots are captured
        self._pending_reconcile: Dict[str, str] = {}
        self._last_periodic: Dict[str, float] = {}
        self._watches: list = []
        self._balance_watches: list = []
        self._tick_hooks: List[Callable[[float], None]] = []
        self._tasks: set = set()
        self.attached = False

    # ------------------------------------------------------------------ setup
    def _resolve_markets(self, markets) -> List[Tuple[str, str]]:
        out = []
        for cname, conn in self.connectors.items():
            pairs = None if markets is None else markets.get(cname)
            if pairs is None:
                pairs = getattr(conn, "trading_pairs", None) or getattr(conn, "_trading_pairs", None) or []
            out.extend((cname, p) for p in pairs)
        if not out:
            raise ValueError("GuardBridge: no markets to guard (pass markets={connector: [pairs]})")
        return sorted(set(out))

    def _complete_config(self, config) -> GuardConfig:
        cfg = config if isinstance(config, GuardConfig) else GuardConfig.model_validate(config)
        data = cfg.model_dump()
        mk = dict(data.get("markets") or {})
        changed = False
        for r in self._refs.values():
            entry = dict(mk.get(r.market) or {})
            if not entry.get("connector"):
                entry["connector"] = r.connector_name
                changed = True
            if r.market not in mk:
                changed = True
            mk[r.market] = entry
        if not changed:
            return cfg
        data["markets"] = mk
        return GuardConfig.model_validate(data)

    def _default_clock(self) -> float:
        ts = [float(getattr(c, "current_timestamp", 0) or 0) for c in self.connectors.values()]
        t = max((x for x in ts if math.isfinite(x)), default=0.0)
        return t if t > 0 else time.time()

    def now(self, ts: Optional[float] = None) -> float:
        t = float(ts) if ts is not None else float(self._clock())
        if not math.isfinite(t) or t <= 0:        # e.g. a TimeIterator's NaN timestamp before its clock starts
            t = time.time()
        if t < self._last_t:
            t = self._last_t
        self._last_t = t
        return t

    def _t(self, ts: Optional[float] = None) -> Decimal:
        """Event time for the core (Decimal seconds, microsecond precision)."""
        return Decimal(repr(round(self.now(ts), 6)))

    # ------------------------------------------------------------------ lookups
    def market_id(self, connector_name: str, trading_pair: str) -> Optional[str]:
        r = self._refs.get((connector_name, trading_pair))
        return r.market if r else None

    @property
    def markets(self) -> List[str]:
        return sorted(self._by_market)

    def ref(self, market: str) -> MarketRef:
        return self._by_market[market]

    def refs_for(self, connector_name: str) -> List[MarketRef]:
        return [r for r in self._refs.values() if r.connector_name == connector_name]

    def state(self, market: str):
        return self.guard.state(market)

    # ------------------------------------------------------------------ fail closed
    def _fault(self, market: Optional[str], what: str, exc: BaseException):
        targets = [market] if market else list(self._by_market)
        for m in targets:
            first = m not in self.faulted
            self.faulted[m] = f"{what}: {type(exc).__name__}: {exc}"
            if first:
                log.error("inventory-guard fault on %s while %s; buys on this market are BLOCKED until resume(): %r",
                          m, what, exc, exc_info=exc)
                try:
                    self.guard.apply(E.Halt(self._t(), m, GUARD_ERROR))
                except Exception:  # the core itself may be the broken part
                    log.exception("inventory-guard: could not record the halt of %s", m)

    def _apply(self, event, market: Optional[str], what: str, invalid_ok: bool = False):
        try:
            return self.guard.apply(event)
        except InvalidEvent as exc:
            if invalid_ok:        # bad input (e.g. a size below size_increment), not a fault of the guard
                log.warning("inventory-guard: %s on %s ignored: %s", what, market, exc)
                return None
            self._fault(market, what, exc)
            return None
        except Exception as exc:
            self._fault(market, what, exc)
            return None

    def resume(self, market: str):
        """Clear a fault latch and the core's halt (also one restored from the journal)."""
        latched = self.faulted.pop(market, None) is not None
        if latched or self._core_halted(market):
            self._apply(E.Resume(self._t(), market), market, "resume")
            log.warning("inventory-guard: %s resumed by operator", market)

    def _core_halted(self, market: str) -> Optional[str]:
        try:
            view = self.guard.state(market)
        except KeyError:
            return None
        return view.halted_reason

    def _clear_previous_run_faults(self):
        """A guard fault latches only the process it happened in: a restart (after the cause is fixed) clears the
        halt that fault wrote into the journal, and says so."""
        for market in self.markets:
            if self._core_halted(market) == GUARD_ERROR:
                log.warning("inventory-guard: %s was halted by a guard fault in the previous run; resuming", market)
                self._apply(E.Resume(self._t(), market), market, "clearing the previous run's halt")

    # ------------------------------------------------------------------ gate
    def check(self, connector_name: str, trading_pair: str, side: str, amount: Decimal) -> Decision:
        """Ask the core whether an order may be placed. Never raises: an internal error refuses buys."""
        side = side if isinstance(side, str) else _side(side)
        amount = Decimal(amount)
        market = self.market_id(connector_name, trading_pair)
        if market is None:
            log.error("inventory-guard: %s %s on %s/%s refused: market not guarded", side, amount, connector_name,
                      trading_pair)
            return Decision(False, D0, UNKNOWN_MARKET)
        blocks_side = side == "buy" or self._allows_short(market)
        if market in self.faulted and blocks_side:
            return Decision(False, D0, GUARD_ERROR)
        if amount <= 0:
            return Decision(False, D0, "invalid_size")
        try:
            out = self.guard.apply(E.Check(self._t(), market, side, amount))
        except InvalidEvent as exc:           # e.g. below size_increment: refuse this order, the guard is fine
            log.warning("inventory-guard: %s %s %s refused: %s", side, amount, market, exc)
            return Decision(False, D0, "invalid_size")
        except Exception as exc:
            self._fault(market, f"checking a {side}", exc)
            out = None
        if out is None or out.decision is None:
            if blocks_side:
                return Decision(False, D0, GUARD_ERROR)
            return Decision(True, amount, None)
        return out.decision

    def _allows_short(self, market: str) -> bool:
        mc = (self.config.markets or {}).get(market)
        v = getattr(mc, "allow_negative_position", None) if mc is not None else None
        return bool(self.config.allow_negative_position if v is None else v)

    # ------------------------------------------------------------------ connector events
    def attach(self) -> "GuardBridge":
        if self.attached:
            return self
        from .logging_setup import keep_guard_loggers_enabled
        keep_guard_loggers_enabled()        # survive Hummingbot's later dictConfig (headless start, every `start`)
        for cname, conn in self.connectors.items():
            if not self.refs_for(cname):
                continue
            self._listen(conn, MarketEvent.OrderFilled, lambda e, c=cname: self._on_fill(c, e))
            self._listen(conn, MarketEvent.BuyOrderCreated, lambda e, c=cname: self._on_created(c, "buy", e))
            self._listen(conn, MarketEvent.SellOrderCreated, lambda e, c=cname: self._on_created(c, "sell", e))
            for tag in (MarketEvent.BuyOrderCompleted, MarketEvent.SellOrderCompleted):
                self._listen(conn, tag, self._on_order_done)
            for tag in (MarketEvent.OrderCancelled, MarketEvent.OrderFailure, MarketEvent.OrderExpired):
                self._listen(conn, tag, lambda e, c=cname: self._on_order_released(c, e))
            self._listen(conn, GuardEvent.TradeFailed, lambda e, c=cname: self._on_trade_failed(c, e))
            unhook = snapshots.install(self, cname, conn)
            if unhook is not None:
                self._hooked_rest.add(cname)
                self._unhooks.append(unhook)
            else:
                log.info("inventory-guard: %s has no REST balance hook; its balances are read as snapshots on "
                         "every tick", cname)
            add_stream_listener = getattr(conn, "add_user_stream_listener", None)
            if callable(add_stream_listener):
                # A connector that reports its user stream going down and up (the simulated venue does) lets the
                # guard hold the reservations of orders cancelled while fills could not be delivered.
                callback = functools.partial(self._on_user_stream_state, cname)
                add_stream_listener(callback)
                remove = getattr(conn, "remove_sim_listener", None)
                if callable(remove):
                    self._unhooks.append(functools.partial(remove, callback))
            from .reconcile import UserStreamWatch
            watch = UserStreamWatch.install(self, cname, conn)
            if watch is not None:
                self._watches.append(watch)
                self._unhooks.append(watch.uninstall)
            _BRIDGES[id(conn)] = self
        try:
            self._sync_open_orders()
        except Exception:
            log.exception("inventory-guard: could not sync open orders at attach")
        for cname, conn in self.connectors.items():
            # The connector fetched its balances before the strategy existed; without this the first snapshot
            # would wait for the next REST poll (up to minutes) with the position taken as 0.
            try:
                known = bool(getattr(conn, "ready", False)) or bool(getattr(conn, "_account_balances", None))
            except Exception:
                known = False
            if known and self.refs_for(cname):
                self.snapshot_now(cname)
        self.attached = True
        return self

    def _listen(self, conn, tag, fn):
        def safe(event, fn=fn, tag=tag):
            try:
                fn(event)
            except Exception as exc:   # hummingbot swallows listener exceptions silently; log them here
                market = None
                pair = getattr(event, "trading_pair", None)
                if pair is not None:
                    for r in self._refs.values():
                        if r.trading_pair == pair:
                            market = r.market
                self._fault(market, f"handling {getattr(tag, 'name', tag)}", exc)
        fwd = EventForwarder(safe)
        self._forwarders.append((conn, tag, fwd))       # strong ref: PubSub keeps only weak references
        conn.add_listener(tag, fwd)

    def detach(self):
        for conn, tag, fwd in self._forwarders:
            try:
                conn.remove_listener(tag, fwd)
            except Exception:
                pass
        self._forwarders.clear()
        for unhook in reversed(self._unhooks):
            try:
                unhook()
            except Exception:
                log.exception("inventory-guard: unhook failed")
        self._unhooks.clear()
        self._watches.clear()
        self._hooked_rest.clear()
        for conn in self.connectors.values():
            if _BRIDGES.get(id(conn)) is self:
                del _BRIDGES[id(conn)]
        for task in list(self._tasks):
            task.cancel()
        self.attached = False

    def close(self):
        self.detach()
        close = getattr(self.guard, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                log.exception("inventory-guard: closing the journal failed")

    def _on_fill(self, cname: str, ev):
        r = self._refs.get((cname, ev.trading_pair))
        if r is None:
            return
        is_buy = ev.trade_type == TradeType.BUY
        fee = fee_in_base(ev.trade_fee, r.base, Decimal(ev.amount), is_buy)
        if r.is_perp:
            fee = D0                       # perp fees are paid in collateral, not in the position
        price = Decimal(ev.price) if ev.price is not None else None
        if price is not None and (price.is_nan() or price <= 0):
            price = None
        if Decimal(ev.amount) <= 0:
            return
        self._apply(E.Fill(self._t(), r.market, "buy" if is_buy else "sell", Decimal(ev.amount), price=price,
                           trade_id=_text(ev.exchange_trade_id), order_id=_text(ev.order_id), fee_base=fee),
                    r.market, "recording a fill")

    def _on_user_stream_state(self, connector_name: str, event) -> None:
        try:
            if getattr(event, "connected", False):
                self.user_stream_up(connector_name)
            else:
                self.user_stream_down(connector_name)
        except Exception:
            log.exception("inventory-guard: user stream state of %s not handled", connector_name)

    def user_stream_down(self, connector_name: str):
        if not self._stream_down.get(connector_name):
            log.warning("inventory-guard: %s user stream down", connector_name)
        self._stream_down[connector_name] = True

    def user_stream_up(self, connector_name: str, reconnect: bool = True):
        """The user stream (re)connected; a reconnect forces a reconcile (reason ``ws_reconnect``)."""
        was_down = self._stream_down.pop(connector_name, False)
        if reconnect or was_down:
            self._stream_up_at[connector_name] = self.now()
            log.warning("inventory-guard: %s user stream reconnected", connector_name)
            self.request_reconcile(connector_name, "ws_reconnect")

    def _on_trade_failed(self, cname: str, ev):
        self.trade_failed(cname, ev.trading_pair, ev.exchange_trade_id)

    def trade_failed(self, connector_name: str, trading_pair: str, trade_id: str):
        market = self.market_id(connector_name, trading_pair)
        trade_id = _text(trade_id)
        if trade_id is None:
            return
        self._apply(E.TradeFailed(self._t(), trade_id), market, "dropping a failed trade")

    # ------------------------------------------------------------------ snapshots and reconciles
    def position_of(self, r: MarketRef) -> Decimal:
        conn = self.connectors[r.connector_name]
        if r.is_perp:
            return snapshots.signed_position(conn, r.trading_pair)
        return Decimal(conn.get_balance(r.base))

    def on_rest_snapshot(self, connector_name: str, kind: str, as_of: float):
        """Called by the hooks after a successful REST balance (``kind='balances'``) or position poll."""
        reason = self._pending_reconcile.pop(connector_name, None)
        t = self._t()
        as_of = min(Decimal(repr(round(float(as_of), 6))), t)
        for r in self.refs_for(connector_name):
            if r.is_perp != (kind == "positions"):
                continue
            try:
                size = self.position_of(r)
            except Exception as exc:
                self._fault(r.market, "reading a snapshot", exc)
                continue
            if reason and self.reconcile_event == "force":
                self._apply(E.ForceReconcile(t, r.market, size, reason), r.market, "force reconciling")
            else:
                self._apply(E.Snapshot(t, r.market, size, as_of=as_of), r.market, "applying a snapshot")
        if kind == "balances":
            # a perp connector polls balances and positions separately; keep the reason for the positions poll
            if reason and any(r.is_perp for r in self.refs_for(connector_name)):
                self._pending_reconcile[connector_name] = reason

    def on_ws_balance(self, connector_name: str, asset: str, total: Decimal):
        if not self.websocket_balance_snapshots:
            return
        t = self._t()
        for r in self.refs_for(connector_name):
            if not r.is_perp and r.base == asset:
                self._apply(E.Snapshot(t, r.market, Decimal(total), as_of=t), r.market, "applying a ws balance")

    def snapshot_now(self, connector_name: Optional[str] = None, reason: Optional[str] = None):
        """Treat the connector's current balances/positions as a snapshot (paper/mock connectors, tests);
        with ``reason`` it is a ForceReconcile instead."""
        names = [connector_name] if connector_name else list(self.connectors)
        t = self._t()
        for cname in names:
            for r in self.refs_for(cname):
                try:
                    size = self.position_of(r)
                except Exception as exc:
                    self._fault(r.market, "reading a snapshot", exc)
                    continue
                ev = (E.ForceReconcile(t, r.market, size, reason) if reason
                      else E.Snapshot(t, r.market, size, as_of=t))
                self._apply(ev, r.market, "applying a snapshot")

    def request_reconcile(self, connector_name: str, reason: str):
        """Force a reconcile: the next successful REST poll of this connector becomes a ForceReconcile; one is
        started now when an event loop is running."""
        conn = self.connectors[connector_name]
        log.info("inventory-guard: force reconcile of %s (%s)", connector_name, reason)
        if connector_name not in self._hooked_rest:
            self.snapshot_now(connector_name, reason=reason if self.reconcile_event == "force" else None)
            return
        self._pending_reconcile[connector_name] = reason
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._poll(connector_name, conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll(self, connector_name: str, conn):
        try:
            await conn._update_balances()
            if any(r.is_perp for r in self.refs_for(connector_name)) and hasattr(conn, "_update_positions"):
                await conn._update_positions()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("inventory-guard: reconcile poll of %s failed; will use the next REST poll",
                        connector_name, exc_info=True)

    # ------------------------------------------------------------------ ticks and status
    def on_tick(self, ts: Optional[float] = None):
        t = self.now(ts)
        self._apply(E.Tick(self._t()), None, "ticking")
        for cname in self.connectors:
            if cname not in self._hooked_rest and self.refs_for(cname):
                self.snapshot_now(cname)
        for bw in list(self._balance_watches):
            try:
                bw.check()
            except Exception:
                log.exception("inventory-guard: balance watch failed")
        self._release_deferred()
        for w in self._watches:
            try:
                w.on_tick(t)
            except Exception:
                log.exception("inventory-guard: user stream watch failed")
        if self.periodic_reconcile_s:
            for cname in self.connectors:
                last = self._last_periodic.setdefault(cname, t)
                if t - last >= self.periodic_reconcile_s:
                    self._last_periodic[cname] = t
                    self.request_reconcile(cname, "periodic")
        for hook in list(self._tick_hooks):
            try:
                hook(t)
            except Exception:
                log.exception("inventory-guard: tick hook failed")

    def counters(self, market: str) -> dict:
        fn = getattr(self.guard, "counters", None)
        return fn(market) if fn else {}

    def status_rows(self) -> List[dict]:
        from .status import status_rows
        return status_rows(self)

    def format_status(self) -> str:
        from .status import format_table
        return format_table(self.status_rows())
