"""The gate: buys against conservative exposure and max_position, sells against available_to_sell.

Every block is logged (WARNING) and every resize (INFO) with the numbers behind it.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import NamedTuple

from .events import BlockReason
from .market import MarketBook
from .numbers import fmt, round_down

log = logging.getLogger("inventory_guard")
ZERO = Decimal(0)

# A decision's reason (events.BlockReason): position_limit, insufficient_inventory (blocked or resized),
# snapshot_stale, halted (blocked).


class Decision(NamedTuple):
    """The gate's answer. ``reason`` is None when the full size is allowed; a resized order keeps its reason."""

    allowed: bool
    size: Decimal
    reason: BlockReason | None = None

    @property
    def resized(self) -> bool:
        return self.allowed and self.reason is not None

    def to_dict(self) -> dict:
        return {"allowed": self.allowed, "size": fmt(self.size), "reason": self.reason}


def decide(book: MarketBook, side: str, size: Decimal, now: Decimal) -> Decision:
    """Allow, resize (down to the size step) or block one order against the market's current numbers."""
    config = book.config
    if side == "buy":
        if book.halted_reason is not None:
            return _block(book, side, size, BlockReason.HALTED, f"halted: {book.halted_reason}")
        if config.snapshot_max_age_s is not None:
            if book.confirmed_at is None:
                return _block(book, side, size, BlockReason.SNAPSHOT_STALE, "no API snapshot yet")
            age = now - book.confirmed_at
            if age > config.snapshot_max_age_s:
                return _block(
                    book, side, size, BlockReason.SNAPSHOT_STALE,
                    f"last API snapshot is {fmt(age)}s old (limit {fmt(config.snapshot_max_age_s)}s)",
                )
        room = config.max_position - book.conservative_exposure
        reason = BlockReason.POSITION_LIMIT
    else:
        room = book.available_to_sell + (config.max_position if config.allow_negative_position else ZERO)
        reason = BlockReason.INSUFFICIENT_INVENTORY
    if room >= size:
        return Decision(True, size)
    fits = round_down(max(room, ZERO), config.size_increment)
    breakdown = _breakdown(book, side, size)
    if fits > 0 and fits >= config.min_order_size:
        log.info("%s: %s resized %s -> %s (%s): %s", config.name, side, fmt(size), fmt(fits), reason, breakdown)
        return Decision(True, fits, reason)
    return _block(book, side, size, reason, breakdown)

def _block(book: MarketBook, side: str, size: Decimal, reason: BlockReason, why: str) -> Decision:
    log.warning("%s: %s of %s blocked (%s): %s", book.config.name, side, fmt(size), reason, why)
    return Decision(False, book.pending.zero, reason)

def _breakdown(book: MarketBook, side: str, size: Decimal) -> str:
    limit = book.config.max_position
    if side == "buy":
        projected = book.conservative_exposure + size
        held = f" + held buys {fmt(book.pending.held_buys)}" if book.pending.held_buys else ""
        return (
            f"confirmed {fmt(book.confirmed)} + pending fill buys {fmt(book.pending.buys)}{held} + open buys "
            f"{fmt(book.open_buys)} + new {fmt(size)} = {fmt(projected)} > limit {fmt(limit)}"
        )
    floor = f" (short limit {fmt(-limit)})" if book.config.allow_negative_position else ""
    return (
        f"effective {fmt(book.effective)} - open sells {fmt(book.open_sells)} = available "
        f"{fmt(book.available_to_sell)} < new {fmt(size)}{floor}"
    )
