"""The snapshot feed: a connector's balances and positions as the core's snapshots, with their time.

* REST: Hummingbot keeps no attribute with the time of the last *successful* balance poll (``_last_poll_timestamp``
  advances even when the call failed), so the connector instance's ``_update_balances`` (and ``_update_positions``
  on perpetual connectors) is wrapped: the time taken *before* the request is the snapshot's ``as_of`` (a fill that
  arrived earlier is in the balance, a later one may not be), and only a call that returns normally produces a
  snapshot.
* Websocket: balance and position writes the venue pushes (``_account_balances``, ``account_positions``) are
  noticed after each user-stream message is processed and on every tick (``Watch``) and are snapshots as of then.
* Requests: while the user stream is up Hummingbot polls REST only every 120 s. Before a pending fill reaches
  ``pending_fill_max_age_s`` without a snapshot taken after it, the feed asks the connector for an update itself
  (its own ``_update_balances`` / ``_update_positions``), at most once per ``snapshot_request_interval_s`` per
  connector (default ``pending_fill_max_age_s / 4``), counted as ``snapshot_requests``.
* Connectors that cannot be hooked (Cython paper trade) have their balances read as snapshots on every tick.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

from inventory_guard import events as E

from .core_port import CorePort
from .markets import MarketMap, MarketRef, signed_position  # noqa: F401  (signed_position re-exported)

log = logging.getLogger("inventory_guard.hummingbot")


class Watch:
    """Notices writes made outside a REST poll (websocket pushes): ``_account_balances`` is a cdef ``dict``
    attribute (no subclass can be swapped in), so the values are compared with the last ones seen."""

    def __init__(self, feed: SnapshotFeed, connector_name: str, refs: list[MarketRef]):
        self.feed, self.connector_name, self.refs = feed, connector_name, refs
        self.in_rest = 0
        self.last: dict[str, Decimal | None] = {}
        self.remember()

    def _values(self) -> dict[str, Decimal | None]:
        conn = self.feed.map.connectors[self.connector_name]
        out: dict[str, Decimal | None] = {}
        for r in self.feed.map.refs_for(self.connector_name):
            if r.is_perp:
                try:
                    out[r.market] = self.feed.map.position(r)
                except Exception:
                    out[r.market] = None
            else:
                value = conn._account_balances.get(r.base)
                out[r.market] = None if value is None else Decimal(value)
        return out

    def remember(self):
        self.last = self._values()

    def check(self):
        if self.in_rest:
            return
        values = self._values()
        changed = [m for m, v in values.items() if v is not None and v != self.last.get(m)]
        self.last = values
        if changed:
            self.feed.on_ws_change(self.connector_name, changed)


def _wrap_async(conn, attr: str, after: Callable[[float], None], clock, before=None, after_any=None):
    orig = getattr(conn, attr)

    @functools.wraps(orig)
    async def wrapped(*args, **kwargs):
        as_of = clock()
        if before:
            before()
        try:
            result = await orig(*args, **kwargs)
        finally:
            if after_any:
                after_any()
        after(as_of)
        return result

    had = attr in conn.__dict__
    setattr(conn, attr, wrapped)

    def unhook():
        if had:
            setattr(conn, attr, orig)
        else:
            conn.__dict__.pop(attr, None)
    return unhook


def _wrap_iter(conn, watch):
    orig = conn._iter_user_event_queue
    had = "_iter_user_event_queue" in conn.__dict__

    @functools.wraps(orig)
    async def iter_user_event_queue(*args, **kwargs):
        async for message in orig(*args, **kwargs):
            yield message
            watch.check()           # the listener has processed `message` when it asks for the next one

    conn._iter_user_event_queue = iter_user_event_queue

    def unhook():
        if had:
            conn._iter_user_event_queue = orig
        else:
            conn.__dict__.pop("_iter_user_event_queue", None)
    return unhook


class SnapshotFeed:
    def __init__(self, core: CorePort, market_map: MarketMap, counters: Counter, *,
                 websocket_snapshots: bool, reconcile_event: str, request_interval_s: float | None,
                 api_lag_s: float):
        if reconcile_event not in ("auto", "force", "snapshot"):
            raise ValueError("reconcile_event: expected 'auto', 'force' or 'snapshot'")
        self.core = core
        self.map = market_map
        self.count = counters
        self.websocket_snapshots = websocket_snapshots
        self.reconcile_event = reconcile_event
        self.request_interval_s = request_interval_s
        if not api_lag_s >= 0:
            raise ValueError("balance_api_lag_s: expected a number of seconds >= 0")
        self.api_lag_s = api_lag_s  # a REST answer may show the position this long before the request
        self.hooked: set = set()                      # connector names whose REST snapshots are captured
        self.watches: list[Watch] = []
        self._pending_reconcile: dict[str, str] = {}
        self._last_request: dict[str, float] = {}
        self._tasks: set = set()

    # ------------------------------------------------------------------ hooks
    def install(self, connector_name: str, conn) -> Callable[[], None] | None:
        """Hook an ``ExchangePyBase``-style connector instance. Returns an un-hook function, or None when it cannot
        be hooked (Cython paper/mock connectors have no instance ``__dict__`` or no ``_update_balances``)."""
        if not hasattr(conn, "_update_balances") or not hasattr(conn, "__dict__"):
            log.info("inventory-guard: %s has no REST balance hook; its balances are read as snapshots on every "
                     "tick", connector_name)
            return None
        refs = self.map.refs_for(connector_name)
        has_perp = any(r.is_perp for r in self.map.all_refs() if r.connector_name == connector_name)
        unhooks = []
        try:
            watch = None
            if self.websocket_snapshots and isinstance(getattr(conn, "_account_balances", None), dict):
                watch = Watch(self, connector_name, refs)
                self.watches.append(watch)
                unhooks.append(lambda: self.watches.remove(watch))
                if hasattr(conn, "_iter_user_event_queue"):
                    unhooks.append(_wrap_iter(conn, watch))

            def before():
                if watch is not None:
                    watch.check()           # attribute earlier pushes to the stream, not to this poll
                    watch.in_rest += 1

            def after_any():
                if watch is not None:
                    watch.in_rest = max(0, watch.in_rest - 1)
                    watch.remember()

            unhooks.append(_wrap_async(conn, "_update_balances",
                                       lambda as_of: self.on_rest_snapshot(connector_name, "balances", as_of),
                                       self.core.now, before, after_any))
            if has_perp and hasattr(conn, "_update_positions"):
                unhooks.append(_wrap_async(conn, "_update_positions",
                                           lambda as_of: self.on_rest_snapshot(connector_name, "positions", as_of),
                                           self.core.now, before, after_any))
        except (AttributeError, TypeError):
            for u in reversed(unhooks):
                u()
            return None
        self.hooked.add(connector_name)

        def unhook():
            for u in reversed(unhooks):
                u()
            self.hooked.discard(connector_name)
        return unhook

    # ------------------------------------------------------------------ snapshots
    def on_rest_snapshot(self, connector_name: str, kind: str, as_of: float):
        """After a successful REST balance (``kind='balances'``) or position poll."""
        reason = self._pending_reconcile.pop(connector_name, None)
        t = self.core.t()
        answer_at = min(Decimal(repr(round(float(as_of) - self.api_lag_s, 6))), t)
        refs = self.map.refs_for(connector_name)
        for r in refs:
            if r.is_perp != (kind == "positions"):
                continue
            self._emit(r, t, answer_at, reason)
        # a perp connector polls balances and positions separately; keep the reason for the positions poll
        if kind == "balances" and reason and any(r.is_perp for r in refs):
            self._pending_reconcile[connector_name] = reason

    def forces(self, r: MarketRef, reason: str) -> bool:
        """Whether a reconcile for ``reason`` is a ForceReconcile on this market (else an ordinary snapshot)."""
        if self.reconcile_event != "auto":
            return self.reconcile_event == "force"
        return reason == "manual" or self.core.config.market(r.market).settlement == "instant"

    def _emit(self, r: MarketRef, t: Decimal, as_of: Decimal, reason: str | None):
        try:
            size = self.map.position(r)
        except Exception as exc:
            self.core.halt(r.market, "reading a snapshot", exc)
            return
        if reason and self.forces(r, reason):
            # stamped with the answer's time, like a snapshot's as_of: the core anchors there
            self.core.apply(E.ForceReconcile(as_of, r.market, size, reason), r.market, "force reconciling")
        else:
            self.core.apply(E.Snapshot(t, r.market, size, as_of=as_of), r.market, "applying a snapshot")

    def on_ws_change(self, connector_name: str, markets: list[str]):
        """Balances / positions the venue pushed over the websocket: a snapshot as of now."""
        if not self.websocket_snapshots:
            return
        t = self.core.t()
        for r in self.map.refs_for(connector_name):
            if r.market in markets:
                self._emit(r, t, t, None)

    def snapshot_now(self, connector_name: str | None = None, reason: str | None = None):
        """Take the connector's current balances/positions as a snapshot (paper/mock connectors, attach);
        with ``reason`` it is a ForceReconcile instead."""
        names = [connector_name] if connector_name else list(self.map.connectors)
        t = self.core.t()
        for cname in names:
            for r in self.map.refs_for(cname):
                self._emit(r, t, t, reason)

    def request_reconcile(self, connector_name: str, reason: str):
        """Force a reconcile: the next successful REST poll of this connector becomes a ForceReconcile; one is
        started now when an event loop is running."""
        log.info("inventory-guard: force reconcile of %s (%s)", connector_name, reason)
        if connector_name not in self.hooked:
            self.snapshot_now(connector_name, reason=reason)
            return
        self._pending_reconcile[connector_name] = reason
        self._start_poll(connector_name)

    def _start_poll(self, connector_name: str) -> bool:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        task = loop.create_task(self._poll(connector_name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _poll(self, connector_name: str):
        conn = self.map.connectors[connector_name]
        try:
            await conn._update_balances()
            if any(r.is_perp for r in self.map.refs_for(connector_name)) and hasattr(conn, "_update_positions"):
                await conn._update_positions()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("inventory-guard: balance/position request to %s failed; will use the next REST poll",
                        connector_name, exc_info=True)

    # ------------------------------------------------------------------ fills waiting for a snapshot
    def request_for_pending(self, now: float):
        """Ask a hooked connector for a balance/position update when a pending fill is half-way to
        ``pending_fill_max_age_s`` and no snapshot taken at or after ``arrival + pending_fill_max_age_s`` exists."""
        for cname in self.hooked:
            why = None
            interval = self.request_interval_s
            for r in self.map.refs_for(cname):
                view = self.core.view(r.market)
                if view is None or view.oldest_pending_fill_at is None:
                    continue
                oldest, max_age = float(view.oldest_pending_fill_at), float(view.pending_fill_max_age_s)
                shown_after = view.confirmed_at is not None and float(view.confirmed_at) >= oldest + max_age
                if not shown_after and now - oldest >= max_age / 2:
                    why = why or (r.market, now - oldest)
                    interval = interval if interval is not None else max_age / 4
            if why is None:
                continue
            last = self._last_request.get(cname)
            if last is not None and now - last < (interval or 0):
                continue
            if cname in self._pending_reconcile or not self._start_poll(cname):
                continue
            self._last_request[cname] = now
            self.count[(cname, "snapshot_requests")] += 1
            log.info("inventory-guard: requesting a balance update from %s: a fill on %s is %.0f s old and no "
                     "snapshot shows it yet (request #%d)", cname, why[0], why[1],
                     self.count[(cname, "snapshot_requests")])

    def on_tick(self):
        for cname in self.map.connectors:
            if cname not in self.hooked and self.map.refs_for(cname):
                self.snapshot_now(cname)
        for w in list(self.watches):
            try:
                w.check()
            except Exception:
                log.exception("inventory-guard: balance watch failed")

    def cancel_tasks(self):
        for task in list(self._tasks):
            task.cancel()
