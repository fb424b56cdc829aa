"""User-stream health -> force reconciles.

* reconnect: every successful ``_connected_websocket_assistant()`` of the connector's user stream data source after
  the first one is a reconnect (messages may have been lost) -> ``ForceReconcile(reason="ws_reconnect")``.
  ``_on_user_stream_interruption()`` marks the stream down: while it is down (and ``cancel_release_delay_s`` after
  it is back) the reservation of a cancelled / failed / expired order is kept, since fills of it may not have
  arrived yet. Connectors with their own notifications can call ``bridge.user_stream_down/up(name)``.
* silence: no user-stream message for ``user_stream_silence_s`` -> ``ForceReconcile(reason="sequence_gap")``, once
  per silent stretch (re-armed when a message arrives).
* periodic: ``GuardBridge(periodic_reconcile_s=...)`` -> ``reason="periodic"``.

``StreamHealth`` holds the per-connector stream state; reconciles go through the snapshot feed.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable

log = logging.getLogger("inventory_guard.hummingbot")


class UserStreamWatch:
    def __init__(self, health: StreamHealth, connector_name: str, data_source):
        self.health = health
        self.connector_name = connector_name
        self.data_source = data_source
        self.connects = 0
        self._silence_fired_at: float | None = None
        self._orig = self._orig_int = None  # the data source's methods this watch replaced
        self._had = self._had_int = False  # whether they were instance attributes (else class methods)

    @classmethod
    def install(cls, health: StreamHealth, connector_name: str, conn) -> UserStreamWatch | None:
        tracker = getattr(conn, "_user_stream_tracker", None)
        ds = getattr(tracker, "data_source", None) if tracker is not None else None
        if ds is None or not hasattr(ds, "_connected_websocket_assistant"):
            return None
        watch = cls(health, connector_name, ds)
        orig = ds._connected_websocket_assistant

        @functools.wraps(orig)
        async def connected_websocket_assistant(*args, **kwargs):
            ws = await orig(*args, **kwargs)
            watch.on_connected()
            return ws

        watch._had = "_connected_websocket_assistant" in getattr(ds, "__dict__", {})
        try:
            ds._connected_websocket_assistant = connected_websocket_assistant
        except AttributeError:
            return None
        watch._orig = orig
        orig_int = getattr(ds, "_on_user_stream_interruption", None)
        watch._had_int = "_on_user_stream_interruption" in getattr(ds, "__dict__", {})
        watch._orig_int = orig_int
        if orig_int is not None:
            @functools.wraps(orig_int)
            async def on_user_stream_interruption(*args, **kwargs):
                watch.on_interrupted()
                return await orig_int(*args, **kwargs)
            ds._on_user_stream_interruption = on_user_stream_interruption
        return watch

    def uninstall(self):
        for attr, had, orig in (("_connected_websocket_assistant", self._had, self._orig),
                                ("_on_user_stream_interruption", self._had_int, self._orig_int)):
            if had:
                setattr(self.data_source, attr, orig)
            else:
                self.data_source.__dict__.pop(attr, None)

    def on_interrupted(self):
        self.health.down(self.connector_name)

    def on_connected(self):
        self.connects += 1
        self.health.up(self.connector_name, reconnect=self.connects > 1)

    def last_recv_time(self) -> float:
        try:
            return float(self.data_source.last_recv_time or 0)
        except Exception:
            return 0.0

    def on_tick(self, now: float):
        bound = self.health.silence_s
        last = self.last_recv_time()
        if not bound or last <= 0:
            return
        if now - last <= bound:
            self._silence_fired_at = None
            return
        if self._silence_fired_at is not None and self._silence_fired_at >= last:
            return           # already reconciled for this silent stretch
        self._silence_fired_at = now
        log.warning("inventory-guard: %s user stream silent for %.0f s", self.connector_name, now - last)
        self.health.reconcile(self.connector_name, "sequence_gap")


class StreamHealth:
    """Per-connector user-stream state: down / back since when, silence and periodic reconciles."""

    def __init__(self, now: Callable[[], float], reconcile: Callable[[str, str], None], *,
                 silence_s: float | None, periodic_s: float | None, cancel_release_delay_s: float):
        self.now = now
        self.reconcile = reconcile
        self.silence_s = silence_s
        self.periodic_s = periodic_s
        self.cancel_release_delay_s = float(cancel_release_delay_s or 0)
        self.is_down: dict[str, bool] = {}
        self.up_at: dict[str, float] = {}
        self.watches: list[UserStreamWatch] = []
        self._last_periodic: dict[str, float] = {}

    def install(self, connector_name: str, conn) -> list[Callable[[], None]]:
        unhooks: list[Callable[[], None]] = []
        add_stream_listener = getattr(conn, "add_user_stream_listener", None)
        if callable(add_stream_listener):
            # A connector that reports its user stream going down and up (the simulated venue does) lets the
            # guard hold the reservations of orders cancelled while fills could not be delivered.
            callback = functools.partial(self._on_state, connector_name)
            add_stream_listener(callback)
            remove = getattr(conn, "remove_sim_listener", None)
            if callable(remove):
                unhooks.append(functools.partial(remove, callback))
        watch = UserStreamWatch.install(self, connector_name, conn)
        if watch is not None:
            self.watches.append(watch)
            unhooks.append(watch.uninstall)
            unhooks.append(lambda: self.watches.remove(watch))
        return unhooks

    def _on_state(self, connector_name: str, event) -> None:
        try:
            if getattr(event, "connected", False):
                self.up(connector_name)
            else:
                self.down(connector_name)
        except Exception:
            log.exception("inventory-guard: user stream state of %s not handled", connector_name)

    def down(self, connector_name: str):
        if not self.is_down.get(connector_name):
            log.warning("inventory-guard: %s user stream down", connector_name)
        self.is_down[connector_name] = True

    def up(self, connector_name: str, reconnect: bool = True):
        """The user stream (re)connected; a reconnect forces a reconcile (reason ``ws_reconnect``)."""
        was_down = self.is_down.pop(connector_name, False)
        if reconnect or was_down:
            self.up_at[connector_name] = self.now()
            log.warning("inventory-guard: %s user stream reconnected", connector_name)
            self.reconcile(connector_name, "ws_reconnect")

    def settled(self, connector_name: str) -> bool:
        """No fill of this connector can still be in flight (stream up for cancel_release_delay_s)."""
        if self.is_down.get(connector_name):
            return False
        up_at = self.up_at.get(connector_name)
        return up_at is None or self.now() - up_at >= self.cancel_release_delay_s

    def on_tick(self, now: float, connector_names):
        for w in list(self.watches):
            try:
                w.on_tick(now)
            except Exception:
                log.exception("inventory-guard: user stream watch failed")
        if self.periodic_s:
            for cname in connector_names:
                last = self._last_periodic.setdefault(cname, now)
                if now - last >= self.periodic_s:
                    self._last_periodic[cname] = now
                    self.reconcile(cname, "periodic")
