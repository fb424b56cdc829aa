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
                return _block(book, side, size, BlockReason.SNAPSHOT_STALE,
                              "no confirmed_at yet (no snapshot or force reconcile)")
            age = now - book.confirmed_at
            if age > config.snapshot_max_age_s:
                return _block(
                    book, side, size, BlockReason.SNAPSHOT_STALE,
                    f"snapshot age {fmt(age)}s (confirmed_at {fmt(book.confirmed_at)}) > snapshot_max_age_s "
                    f"{fmt(config.snapshot_max_age_s)}",
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
    """The numbers behind a decision, in the STATE's names; the terms add up to the bound exactly."""
    limit, confirmed = book.config.max_position, book.confirmed
    if side == "buy":
        buys, held, reserved = book.pending.pending_fill_buys, book.pending.held_buys, book.open_buy_reservations
        # what the sums and notices prove, and buys past the settlement window (less buys an answer disproved)
        credit = confirmed + buys + held + reserved - book.conservative_exposure
        return (
            f"confirmed {fmt(confirmed)} + pending fill buys {fmt(buys)}"
            + (f" + held buys {fmt(held)}" if held else "") + (f" - credit {fmt(credit)}" if credit else "")
            + f" + open buy reservations {fmt(reserved)} + new {fmt(size)} = "
            f"{fmt(book.conservative_exposure + size)} > limit {fmt(limit)}"
        )
    floor = f" (short limit {fmt(-limit)})" if book.config.allow_negative_position else ""
    reserved, available = book.open_sell_reservations, book.available_to_sell
    pending = available + reserved - confirmed  # what the pending fills add at worst (every pending sell settles)
    return (
        f"confirmed {fmt(confirmed)} {'-' if pending < 0 else '+'} pending fills at worst {fmt(abs(pending))} - open "
        f"sell reservations {fmt(reserved)} = available to sell {fmt(available)} < new {fmt(size)}{floor}"
    )
