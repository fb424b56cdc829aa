"""Small helpers so core tests read like the specification."""

from __future__ import annotations

from decimal import Decimal

from inventory_guard.config import parse_config
from inventory_guard.core import Guard
from inventory_guard.events import parse_event

D = Decimal


def counter(counters: dict, name: str, **labels: str) -> int:
    """Counter ``name`` summed over its label sets that carry ``labels`` (all of them when none are given).

    ``counters`` is what ``counters(market)`` returns (the core's, the journal's, the bridge's):
    ``{(name, ((label, value), ...)): n}``.
    """
    return sum(n for (key, key_labels), n in counters.items()
               if key == name and all(dict(key_labels).get(k) == v for k, v in labels.items()))


class Driver:
    """Drives a Guard with JSON-like events: ``g.fill(1, "buy", "10", trade_id="T1")``."""

    def __init__(self, market: str = "m", **config) -> None:
        config.setdefault("max_position", "100")
        self.guard = Guard(parse_config(config))
        self.market = market

    def send(self, **event):
        event.setdefault("market", self.market)
        return self.guard.apply(parse_event(event))

    def snapshot(self, t, size, **kw):
        return self.send(t=t, type="snapshot", size=size, **kw)

    def fill(self, t, side, size, **kw):
        return self.send(t=t, type="fill", side=side, size=size, **kw)

    def order_open(self, t, order_id, side, size, **kw):
        return self.send(t=t, type="order_open", order_id=order_id, side=side, size=size, **kw)

    def order_closed(self, t, order_id):
        return self.guard.apply(parse_event({"t": t, "type": "order_closed", "order_id": order_id}))

    def check(self, t, side, size, **kw):
        return self.send(t=t, type="check", side=side, size=size, **kw).decision

    def tick(self, t):
        return self.guard.apply(parse_event({"t": t, "type": "tick"}))

    def trade_failed(self, t, trade_id):
        return self.guard.apply(parse_event({"t": t, "type": "trade_failed", "trade_id": trade_id}))

    def force_reconcile(self, t, size, reason="ws_reconnect", **kw):
        return self.send(t=t, type="force_reconcile", size=size, reason=reason, **kw)

    @property
    def state(self):
        return self.guard.state(self.market)

    def counter(self, name, **labels):
        return counter(self.guard.counters(self.market), name, **labels)
