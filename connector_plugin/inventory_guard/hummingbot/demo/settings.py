"""What a demo session is made of. No Hummingbot import: the demo's command line reads its defaults here."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

TRADING_PAIR = "YES-USDC"


@dataclass
class SessionSettings:
    seed: int = 7
    max_position: Decimal = Decimal("100")
    order_amount: Decimal = Decimal("20")
    spread_ticks: int = 1
    order_refresh_s: float = 10.0
    poll_interval_s: float = 5.0
    # The guard config values the demo sets itself (everything else is the config's default): only here.
    venue: dict[str, Any] = field(default_factory=dict)   # VenueConfig overrides (of its fields' types)
    start_time: float | None = None      # simulated epoch of the first tick (default: VenueConfig's fixed one)


DEMO_VENUE = {
    # outside sellers a bit more active than buyers: the maker accumulates inventory and meets its limit
    "outside_sell_rate_per_s": 0.40,
    "outside_buy_rate_per_s": 0.25,
    # a share of the venue's trade status notices (MINED / CONFIRMED / FAILED ...) never arrives
    "status_notice_loss_prob": 0.10,
}
