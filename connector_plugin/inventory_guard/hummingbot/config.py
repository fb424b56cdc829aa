"""The ``inventory_guard:`` section of a Hummingbot V2 strategy config (pydantic, ``BaseClientModel`` conventions).

Only fields a trader sets are declared; a field left at ``None`` takes the core's default (``GuardConfig``), so the
defaults live in one place. ``to_guard_config(markets)`` turns the section into the core's ``GuardConfig`` for the
markets the strategy trades, with each market's ``connector`` set so the exporter's label is right.

Market naming (the core's market id): the trading pair (``BTC-USDT``) when the strategy uses one connector, and
``connector:pair`` (``binance:BTC-USDT``) when it uses several. Keys of ``markets:`` may be either form; a bare pair
applies to that pair on every connector.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Dict, Iterable, List, Literal, Optional, Tuple

from pydantic import Field, model_validator

from hummingbot.client.config.config_data_types import BaseClientModel


def _f(default, prompt: str):
    return Field(default=default, json_schema_extra={"prompt": prompt, "prompt_on_new": False})


def market_id(connector_name: str, trading_pair: str, multi_connector: bool) -> str:
    return f"{connector_name}:{trading_pair}" if multi_connector else trading_pair


class InventoryGuardMarketSettings(BaseClientModel):
    """Per-market overrides (keyed by trading pair or ``connector:pair``)."""
    max_position: Optional[Decimal] = _f(None, "Max base-asset position for this market: ")
    size_increment: Optional[Decimal] = _f(None, "Order size increment: ")
    min_order_size: Optional[Decimal] = _f(None, "Minimum order size (smaller resized orders are refused): ")
    pending_fill_max_age_s: Optional[float] = _f(None, "Seconds before an unconfirmed fill ages out: ")
    snapshot_max_age_s: Optional[float] = _f(None, "Block buys when the last balance snapshot is older than (s): ")
    allow_negative_position: Optional[bool] = _f(None, "Allow a negative (short) position (perpetuals): ")


class InventoryGuardSettings(BaseClientModel):
    """``inventory_guard:`` section. ``max_position`` is required: without a limit the guard refuses to start."""
    max_position: Decimal = _f(..., "Max base-asset position per market (default for all markets): ")
    journal_path: Optional[str] = _f("data/inventory_guard.sqlite",
                                     "SQLite journal path (relative to the Hummingbot root; empty = in memory): ")
    bot_name: Optional[str] = _f(None, "Bot label for the journal and exporter: ")
    size_increment: Optional[Decimal] = _f(None, "Order size increment: ")
    min_order_size: Optional[Decimal] = _f(None, "Minimum order size: ")
    pending_fill_max_age_s: Optional[float] = _f(None, "Seconds before an unconfirmed fill ages out: ")
    force_reconcile_error_gap: Optional[Decimal] = _f(None, "Gap that marks a force reconcile as an error: ")
    snapshot_max_age_s: Optional[float] = _f(None, "Block buys when the last balance snapshot is older than (s): ")
    allow_negative_position: Optional[bool] = _f(None, "Allow negative positions (perpetuals): ")
    seen_fill_keys_max: Optional[int] = _f(None, "How many fill ids to remember for de-duplication: ")
    markets: Dict[str, InventoryGuardMarketSettings] = _f({}, "Per-market overrides: ")
    # adapter-only settings
    user_stream_silence_s: Optional[float] = _f(
        120.0, "Force a reconcile when the user stream is silent for this long (s; empty = off): ")
    periodic_reconcile_s: Optional[float] = _f(
        None, "Force a reconcile every N seconds (empty = off): ")
    websocket_balance_snapshots: bool = _f(
        True, "Treat balances written by the venue's websocket as snapshots: ")
    reconcile_event: Literal["force", "snapshot"] = _f(
        "force", "Reconcile on reconnect/silence/period as 'force' (trust the API, clear pending fills) or "
                 "'snapshot' (keep pending fills the API does not show yet; for venues whose balance API lags): ")
    cancel_release_delay_s: float = _f(
        5.0, "Keep a cancelled order's reservation while the user stream is down and this long after it is back: ")

    @model_validator(mode="after")
    def _core_accepts(self):
        # Validate the core-level values now (at config load), so a bad value names its key before anything runs.
        from inventory_guard.config import GuardConfig
        try:
            GuardConfig.model_validate(self._core_dict({p: ("", p) for p in self._bare_keys()}))
        except Exception as e:  # ConfigError / ValidationError from the core, re-raised as a field error
            raise ValueError(f"inventory_guard: {e}") from None
        return self

    def _bare_keys(self) -> List[str]:
        return [k.split(":", 1)[1] if ":" in k else k for k in self.markets]

    def _core_dict(self, markets: Dict[str, Tuple[str, str]]) -> dict:
        top = {k: getattr(self, k) for k in ("bot_name", "max_position", "size_increment", "min_order_size",
                                             "pending_fill_max_age_s", "force_reconcile_error_gap",
                                             "snapshot_max_age_s", "allow_negative_position", "seen_fill_keys_max")}
        top = {k: v for k, v in top.items() if v is not None}
        out_markets = {}
        for mid, (connector_name, pair) in markets.items():
            entry = {}
            for key in (pair, f"{connector_name}:{pair}"):      # exact key wins over the bare pair
                if key in self.markets:
                    entry.update({k: v for k, v in self.markets[key].model_dump().items() if v is not None})
            if connector_name:
                entry["connector"] = connector_name
            out_markets[mid] = entry
        top["markets"] = out_markets
        return top

    def to_guard_config(self, markets: Iterable[Tuple[str, str]]):
        """``markets``: (connector_name, trading_pair) pairs the strategy trades. Raises ``ConfigError`` naming the
        key for an override that matches no market."""
        from inventory_guard.config import ConfigError, GuardConfig
        markets = sorted(set(markets))
        multi = len({c for c, _ in markets}) > 1
        mids = {market_id(c, p, multi): (c, p) for c, p in markets}
        known = {p for _, p in markets} | {f"{c}:{p}" for c, p in markets}
        for key in self.markets:
            if key not in known:
                raise ConfigError(f"inventory_guard.markets.{key}: not a market of this strategy "
                                  f"(markets: {', '.join(sorted(known))})")
        data = self._core_dict(mids)
        if len({c for c, _ in markets}) == 1 and "connector" not in data:
            data["connector"] = markets[0][0]
        return GuardConfig.model_validate(data)
