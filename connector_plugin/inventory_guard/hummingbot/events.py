"""The adapter's own PubSub event tags and payloads: a small neutral module (no hummingbot import) that connectors
(e.g. the simulated venue) and the bridge both import, so neither imports the other.

A connector whose venue reports what happened to a matched trade later triggers, on itself::

    connector.trigger_event(GuardEvent.TradeFailed, TradeFailedEvent(ts, trading_pair, trade_id, order_id))
    connector.trigger_event(GuardEvent.TradeSettled, TradeSettledEvent(ts, trading_pair, trade_id, order_id))

``TradeFailed``: the trade will never settle (a phantom fill) -> the core's ``trade_failed``.
``TradeSettled``: the trade is final and shows in balances taken from now on -> the core's ``fill_settled``.
The bridge also has the same entry points as methods: ``bridge.trade_failed(...)`` / ``bridge.trade_settled(...)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class GuardEvent(Enum):
    """PubSub tags (values chosen clear of Hummingbot's own enums)."""
    TradeFailed = 87101
    TradeSettled = 87102


@dataclass(frozen=True)
class TradeNotice:
    """What a venue says about one trade: the trade by its exchange id, and its client order id when known."""
    timestamp: float
    trading_pair: str
    exchange_trade_id: str
    order_id: str | None = None


@dataclass(frozen=True)
class TradeFailedEvent(TradeNotice):
    """The trade will never settle (a phantom fill)."""


@dataclass(frozen=True)
class TradeSettledEvent(TradeNotice):
    """The trade is final and shows in balances taken from now on."""


# Why a blocked order failed (MarketOrderFailureEvent.error_type), so strategies and logs can tell it from a venue
# rejection.
BLOCKED_ERROR_TYPE = "InventoryGuardBlocked"

__all__ = ["GuardEvent", "TradeFailedEvent", "TradeSettledEvent", "BLOCKED_ERROR_TYPE"]
