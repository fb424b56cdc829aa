"""Hummingbot values as the core's: sides, venue ids, base-asset fees, and the adapter's own event types."""
from __future__ import annotations

import contextvars
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Optional

from hummingbot.core.data_type.common import TradeType

D0 = Decimal(0)


class GuardEvent(Enum):
    """Custom PubSub tag: a connector whose venue can report that a matched trade later failed (a phantom fill)
    triggers ``connector.trigger_event(GuardEvent.TradeFailed, TradeFailedEvent(...))``."""
    TradeFailed = 87101


@dataclass(frozen=True)
class TradeFailedEvent:
    timestamp: float
    trading_pair: str
    exchange_trade_id: str
    order_id: Optional[str] = None


# Set while an approved executor places its own orders (see controllers.py); the script gate lets those through.
executor_context: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("inventory_guard_executor",
                                                                                default=None)

@dataclass(frozen=True)
class MarketRef:
    market: str
    connector_name: str
    trading_pair: str
    base: str
    is_perp: bool


def _is_perp(connector_name: str, connector) -> bool:
    return "perpetual" in connector_name or hasattr(type(connector), "account_positions")


def _text(value) -> Optional[str]:
    """Venue ids as text: a re-delivery may carry the same id as a number (1001 vs "1001")."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _side(trade_type) -> str:
    return "buy" if trade_type == TradeType.BUY else "sell"


def fee_in_base(trade_fee, base: str, amount: Decimal, is_buy: bool) -> Decimal:
    """Base-asset part of a Hummingbot trade fee: flat fees paid in the base token, plus a percent fee charged in
    the base token (explicit ``percent_token``, or a deducted-from-returns fee on a buy)."""
    if trade_fee is None:
        return D0
    fee = D0
    for flat in getattr(trade_fee, "flat_fees", None) or []:
        if flat.token == base:
            fee += Decimal(flat.amount)
    percent = Decimal(getattr(trade_fee, "percent", D0) or D0)
    if percent:
        token = getattr(trade_fee, "percent_token", None)
        if token == base or (token is None and is_buy and type(trade_fee).__name__ == "DeductedFromReturnsTradeFee"):
            fee += percent * amount
    return fee
