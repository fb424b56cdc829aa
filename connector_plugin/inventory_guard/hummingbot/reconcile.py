"""User-stream health -> force reconciles.

* reconnect: every successful ``_connected_websocket_assistant()`` of the connector's user stream data source after
  the first one is a reconnect (messages may have been lost) -> ``ForceReconcile(reason="ws_reconnect")``.
  ``_on_user_stream_interruption()`` marks the stream down: while it is down (and ``cancel_release_delay_s`` after
  it is back) the reservation of a cancelled / failed / expired order is kept, since fills of it may not have
  arrived yet. Connectors with their own notifications can call ``bridge.user_stream_down/up(name)``.
* silence: no user-stream message for ``user_stream_silence_s`` -> ``ForceReconcile(reason="sequence_gap")``, once
  per silent stretch (re-armed when a message arrives).
* periodic: ``GuardBridge(periodic_reconcile_s=...)`` -> ``reason="periodic"`` (handled in the bridge's tick).
"""
from __future__ import annotations

import functools
import logging
from typing import Optional

log = logging.getLogger("inventory_guard.hummingbot")


class UserStreamWatch:
    def __init__(self, bridge, connector_name: str, data_source):
        self.bridge = bridge
        self.connector_name = connector_name
        self.data_source = data_source
        self.connects = 0
        self._silence_fired_at: Optional[float] = None
        self._orig = None

    @classmethod
    def install(cls, bridge, connector_name: str, conn) -> Optional["UserStreamWatch"]:
        tracker = getattr(conn, "_user_stream_tracker", None)
        ds = getattr(tracker, "data_source", None) if tracker is not None else None
        if ds is None or not hasattr(ds, "_connected_websocket_assistant"):
            return None
        watch = cls(bridge, connector_name, ds)
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
        for attr, had, orig in (("_connected_websocket_assistant", getattr(self, "_had", False), self._orig),
                                ("_on_user_stream_interruption", getattr(self, "_had_int", False),
                                 getattr(self, "_orig_int", None))):
            if had:
                setattr(self.data_source, attr, orig)
            else:
                self.data_source.__dict__.pop(attr, None)

    def on_interrupted(self):
        self.bridge.user_stream_down(self.connector_name)

    def on_connected(self):
        self.connects += 1
        self.bridge.user_stream_up(self.connector_name, reconnect=self.connects > 1)

    def last_recv_time(self) -> float:
        try:
            return float(self.data_source.last_recv_time or 0)
        except Exception:
            return 0.0

    def on_tick(self, now: float):
        bound = self.bridge.user_stream_silence_s
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
        self.bridge.request_reconcile(self.connector_name, "sequence_gap")
