"""The ``inventory_guard:`` section of a Hummingbot V2 strategy config (pydantic, ``BaseClientModel`` conventions),
and how per-market overrides map onto the guard's markets (see ``markets.py`` for the market ids).

Only fields a trader sets are declared; a field left at ``None`` takes the core's default (``GuardConfig``), so the
defaults live in one place, except two adapter defaults: a signed perpetual market allows a short position
(``allow_negative_position: true``, down to ``-max_position``), and centralized-exchange connectors (``CEX_CONNECTORS``,
also as ``<name>_paper_trade``) settle instantly (``settlement: instant``). Setting either key overrides it.

Keys of ``markets:`` may name a trading pair (``BTC-USDT``), ``connector:pair``, a spot asset (``BTC``) or
``connector:asset``; a bare name applies on every connector, the ``connector:`` form wins over it. On spot, pairs of
one asset share one market: two of its keys setting different values of one field is a config error naming both.
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

from hummingbot.client.config.config_data_types import BaseClientModel
from pydantic import Field, model_validator

# Centralized exchanges: a fill is in the REST balance as soon as the venue reports it (``settlement: instant``).
CEX_CONNECTORS = frozenset({
    "ascend_ex", "binance", "binance_us", "bing_x", "bitget", "bitmart", "bitstamp", "btc_markets", "bybit",
    "coinbase_advanced_trade", "cube", "gate_io", "htx", "kraken", "kucoin", "mexc", "ndax", "okx",
    "binance_perpetual", "binance_perpetual_testnet", "bitget_perpetual", "bitmart_perpetual", "bybit_perpetual",
    "gate_io_perpetual", "kucoin_perpetual", "okx_perpetual",
})


def default_settlement(connector_name: str) -> str | None:
    name = connector_name[:-len("_paper_trade")] if connector_name.endswith("_paper_trade") else connector_name
    return "instant" if name in CEX_CONNECTORS else None


def _f(default, prompt: str):
    return Field(default=default, json_schema_extra={"prompt": prompt, "prompt_on_new": False})


def market_id(connector_name: str, trading_pair: str, multi_connector: bool) -> str:
    """The id of a perpetual contract's market (spot markets are per asset: ``markets.MarketMap``)."""
    return f"{connector_name}:{trading_pair}" if multi_connector else trading_pair


class InventoryGuardMarketSettings(BaseClientModel):
    """Per-market overrides (keyed by trading pair, ``connector:pair``, asset or ``connector:asset``)."""
    max_position: Decimal | None = _f(None, "Max base-asset position for this market: ")
    size_increment: Decimal | None = _f(None, "Order size increment: ")
    min_order_size: Decimal | None = _f(None, "Minimum order size (smaller resized orders are refused): ")
    pending_fill_max_age_s: float | None = _f(None, "Seconds before an unconfirmed fill ages out: ")
    snapshot_max_age_s: float | None = _f(None, "Block buys when the last balance snapshot is older than (s): ")
    allow_negative_position: bool | None = _f(None, "Allow a negative (short) position (perpetuals): ")
    settlement: Literal["delayed", "instant"] | None = _f(None, "Fill settlement: delayed or instant: ")


class InventoryGuardSettings(BaseClientModel):
    """``inventory_guard:`` section. ``max_position`` is required: without a limit the guard refuses to start."""
    max_position: Decimal = _f(..., "Max base-asset position per market (default for all markets): ")
    journal_path: str | None = _f("data/inventory_guard.sqlite",
                                     "SQLite journal path (relative to the Hummingbot root; empty = in memory): ")
    bot_name: str | None = _f(None, "Bot label for the journal and exporter: ")
    size_increment: Decimal | None = _f(None, "Order size increment: ")
    min_order_size: Decimal | None = _f(None, "Minimum order size: ")
    pending_fill_max_age_s: float | None = _f(None, "Seconds before an unconfirmed fill ages out: ")
    force_reconcile_error_gap: Decimal | None = _f(None, "Gap that marks a force reconcile as an error: ")
    snapshot_max_age_s: float | None = _f(None, "Block buys when the last balance snapshot is older than (s): ")
    allow_negative_position: bool | None = _f(None, "Allow negative positions (perpetuals): ")
    settlement: Literal["delayed", "instant"] | None = _f(None, "Fill settlement: delayed or instant: ")
    seen_fill_keys_max: int | None = _f(None, "How many fill ids to remember for de-duplication: ")
    markets: dict[str, InventoryGuardMarketSettings] = _f({}, "Per-market overrides: ")
    # adapter-only settings
    user_stream_silence_s: float | None = _f(
        120.0, "Force a reconcile when the user stream is silent for this long (s; empty = off): ")
    periodic_reconcile_s: float | None = _f(
        None, "Force a reconcile every N seconds (empty = off): ")
    websocket_balance_snapshots: bool = _f(
        True, "Treat balances/positions written by the venue's websocket as snapshots: ")
    reconcile_event: Literal["force", "snapshot"] = _f(
        "force", "Reconcile on reconnect/silence/period as 'force' (trust the API, clear pending fills) or "
                 "'snapshot' (keep pending fills the API does not show yet; for venues whose balance API lags): ")
    cancel_release_delay_s: float = _f(
        5.0, "Keep a cancelled order's reservation this long (and while the user stream is down / just back): ")
    balance_api_lag_s: float = _f(
        0.0, "The balance/position API may answer with a position this many seconds old (a lagging indexer): "
             "snapshots are stamped that much earlier, so a settlement reported after the answer's real time is "
             "not taken as inside it (s): ")
    snapshot_request_interval_s: float | None = _f(
        None, "At most one balance request per connector this often for unconfirmed fills (s; default "
              "pending_fill_max_age_s / 4): ")

    @model_validator(mode="after")
    def _core_accepts(self):
        # Validate the core-level values now (at config load), so a bad value names its key before anything runs.
        from inventory_guard.config import GuardConfig
        try:
            GuardConfig.model_validate({**self._top(), "markets": {
                k: {f: v for f, v in m.model_dump().items() if v is not None} for k, m in self.markets.items()}})
        except Exception as e:  # ConfigError / ValidationError from the core, re-raised as a field error
            raise ValueError(f"inventory_guard: {e}") from None
        return self

    def _top(self) -> dict:
        top = {k: getattr(self, k) for k in ("bot_name", "max_position", "size_increment", "min_order_size",
                                             "pending_fill_max_age_s", "force_reconcile_error_gap",
                                             "snapshot_max_age_s", "allow_negative_position", "settlement",
                                             "seen_fill_keys_max")}
        return {k: v for k, v in top.items() if v is not None}

    def to_guard_config(self, market_map):
        """The core ``GuardConfig`` for a ``markets.MarketMap``. Raises ``ConfigError`` naming the key for an
        override that matches no market, or for two keys of one market that disagree."""
        from inventory_guard.config import GuardConfig
        overrides = {k: {f: v for f, v in m.model_dump().items() if v is not None} for k, m in self.markets.items()}
        data = self._top()
        data["markets"] = resolve_overrides(overrides, market_map, top=data, prefix="inventory_guard.markets.",
                                            strict=True)
        if len(market_map.connectors) == 1:
            data.setdefault("connector", next(iter(market_map.connectors)))
        return GuardConfig.model_validate(data)


def _names(ref) -> list[tuple]:
    """(bare, connector-prefixed) config keys naming a market, in increasing precedence."""
    c = ref.connector_name
    names = [(p, f"{c}:{p}") for p in ref.pairs]
    if not ref.is_perp:
        names.append((ref.base, f"{c}:{ref.base}"))
    return names


def resolve_overrides(overrides: Mapping[str, Mapping], market_map, *, top: Mapping, prefix: str,
                      strict: bool) -> dict[str, dict]:
    """Per-market override entries keyed by the guard's market ids, with the adapter defaults filled in.
    ``strict``: a key that names no market is an error (else it is kept as a market of its own)."""
    from inventory_guard.config import ConfigError
    used = set()
    out: dict[str, dict] = {}
    for ref in market_map.all_refs():
        merged: dict[str, object] = {}
        origin: dict[str, str] = {}  # field -> the override entry that set it
        for bare, exact in _names(ref):
            entry, src = {}, {}
            for key in (bare, exact):
                if key in overrides:
                    used.add(key)
                    for field, value in overrides[key].items():
                        if value is not None:
                            entry[field], src[field] = value, key
            for field, value in entry.items():
                if field in merged and merged[field] != value:
                    raise ConfigError(
                        f"{prefix}{origin[field]}.{field} ({merged[field]}) and {prefix}{src[field]}.{field} "
                        f"({value}) disagree: both name the {ref.base} market {ref.market!r} on "
                        f"{ref.connector_name} (pairs of one asset share one position and one limit; set it once, "
                        f"e.g. under {ref.base})")
                merged[field], origin[field] = value, src[field]
        merged.pop("connector", None)
        merged["connector"] = ref.connector_name
        if ref.is_perp:
            if ref.leg is not None:
                merged["allow_negative_position"] = False      # a leg's size is >= 0
            elif "allow_negative_position" not in merged and top.get("allow_negative_position") is None:
                merged["allow_negative_position"] = True       # a short is normal on a perpetual
        if "settlement" not in merged and top.get("settlement") is None:
            settlement = default_settlement(ref.connector_name)
            if settlement:
                merged["settlement"] = settlement
        out[ref.market] = merged
    for key, given in overrides.items():
        if key in used or key in out:
            continue
        if strict:
            known = sorted({n for r in market_map.all_refs() if r.leg is None for pair in _names(r) for n in pair})
            raise ConfigError(f"{prefix}{key}: not a market of this strategy (markets: {', '.join(known)})")
        out[key] = dict(given)
    return out
