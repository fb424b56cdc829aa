"""Hummingbot values as the core's: sides, venue ids, base-asset fees (the event tags live in ``events.py``)."""
from __future__ import annotations

import contextvars
from decimal import Decimal

from hummingbot.core.data_type.common import TradeType

from inventory_guard.events import Side

from .events import GuardEvent, TradeFailedEvent, TradeSettledEvent  # noqa: F401  (re-exported)
from .markets import MarketRef, is_perp_connector as _is_perp  # noqa: F401  (re-exported)

D0 = Decimal(0)


# The executor placing an order (set around an executor's ``place_order``, see controllers.py): the connector gate
# checks its order against the room its approved budget holds.
executor_context: contextvars.ContextVar[str | None] = contextvars.ContextVar("inventory_guard_executor",
                                                                                default=None)


def _text(value) -> str | None:
    """Venue ids as text: a re-delivery may carry the same id as a number (1001 vs "1001")."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def venue_decimal(value) -> Decimal:
    """A venue amount as the exact decimal it stands for: a float — or a Decimal made from one, as paper trade
    reports 0.1 as 0.1000000000000000055511151231257827… — becomes its shortest repr (0.1), so fills match the
    balance moves they cause."""
    if isinstance(value, float):
        return Decimal(repr(value))
    d = Decimal(value)
    if d.is_finite() and len(d.as_tuple().digits) > 17:
        short = Decimal(repr(float(d)))
        if Decimal(float(short)) == d:  # d is exactly that float's binary value
            return short
    return d


def _side(trade_type) -> Side:
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
