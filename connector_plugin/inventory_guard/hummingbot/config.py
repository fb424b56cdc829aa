"""The ``inventory_guard:`` section of a Hummingbot V2 strategy config (pydantic, ``BaseClientModel`` conventions),
and how per-market overrides map onto the guard's markets (see ``markets.py`` for the market ids).

The section's core keys are the core's (``inventory_guard.config.GuardConfig``): each one's type, checks, default and
description come from there (``_from_core``), except for two adapter defaults: a signed perpetual market allows a
short position (``allow_negative_position: true``, down to ``-max_position``), and centralized-exchange connectors
(``CEX_CONNECTORS``, also as ``<name>_paper_trade``) settle instantly (``settlement: instant``). Setting either key
overrides it. The adapter's own keys are declared once, in ``AdapterSettings``.

Keys of ``markets:`` may name a trading pair (``BTC-USDT``), ``connector:pair``, a spot asset (``BTC``) or
``connector:asset``; a bare name applies on every connector, the ``connector:`` form wins over it. On spot, pairs of
one asset share one market: two of its keys setting different values of one field is a config error naming both.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from hummingbot.client.config.config_data_types import BaseClientModel
from pydantic import BaseModel, Field, create_model, model_validator

from inventory_guard.config import ConfigError, GuardConfig, MarketOverrides

# Centralized exchanges: a fill is in the REST balance as soon as the venue reports it (``settlement: instant``).
CEX_CONNECTORS = frozenset({
    "ascend_ex", "binance", "binance_us", "bing_x", "bitget", "bitmart", "bitstamp", "btc_markets", "bybit",
    "coinbase_advanced_trade", "cube", "gate_io", "htx", "kraken", "kucoin", "mexc", "ndax", "okx",
    "binance_perpetual", "binance_perpetual_testnet", "bitget_perpetual", "bitmart_perpetual", "bybit_perpetual",
    "gate_io_perpetual", "kucoin_perpetual", "okx_perpetual",
})

# The core keys the section exposes (the others keep the core's default), at the top and under ``markets:``.
SECTION_KEYS = ("max_position", "bot_name", "size_increment", "min_order_size", "pending_fill_max_age_s",
                "force_reconcile_error_gap", "snapshot_max_age_s", "allow_negative_position", "settlement",
                "seen_fill_keys_max")
SECTION_MARKET_KEYS = ("max_position", "size_increment", "min_order_size", "pending_fill_max_age_s",
                       "snapshot_max_age_s", "allow_negative_position", "settlement")
# What the section changes of a core key: its default and a note appended to the core's description.
SECTION_CHANGES: dict[str, dict[str, Any]] = {
    "max_position": dict(default=..., note="In this section it is required at the top level."),
    "allow_negative_position": dict(default=None, note="Unset: true on perpetual connectors (false for a HEDGE-mode "
                                                       "leg), false elsewhere."),
    "settlement": dict(default=None, note="Unset: `instant` on the centralized exchanges listed in CEX_CONNECTORS "
                                          "(and their `_paper_trade` variants), `delayed` elsewhere."),
}


def default_settlement(connector_name: str) -> str | None:
    name = connector_name[:-len("_paper_trade")] if connector_name.endswith("_paper_trade") else connector_name
    return "instant" if name in CEX_CONNECTORS else None


def _f(default, description: str | None):
    return Field(default=default, description=description,
                 json_schema_extra={"prompt": description, "prompt_on_new": False})


def _from_core(model: type[BaseModel], key: str, change: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """The core key ``key`` of ``model`` as a section field: the core's type (with its checks), default and
    description, or the ``default`` and the ``note`` (appended to the description) of a ``SECTION_CHANGES`` entry."""
    field = model.model_fields[key]
    default = change["default"] if change else field.default
    description = f"{field.description} {change['note']}" if change else field.description
    annotation = field.rebuild_annotation()
    if default is None:
        annotation = annotation | None
    elif default is ... and type(None) in get_args(annotation):  # required here: null is not a value
        (annotation,) = (a for a in get_args(annotation) if a is not type(None))
    return annotation, _f(default, description)


def market_id(connector_name: str, trading_pair: str, multi_connector: bool) -> str:
    """The id of a perpetual contract's market (spot markets are per asset: ``markets.MarketMap``)."""
    return f"{connector_name}:{trading_pair}" if multi_connector else trading_pair


class AdapterSettings(BaseClientModel):
    """The adapter's own keys: how Hummingbot's user stream and balance API feed the guard. The ``inventory_guard:``
    section has them; ``GuardBridge(core_config, ..., **options)`` takes them as keyword options."""
    user_stream_silence_s: float | None = _f(
        120.0, "Force a reconcile when the connector's user stream (private websocket) has been silent this long "
               "(seconds; null: off).")
    periodic_reconcile_s: float | None = _f(None, "Force a reconcile every N seconds (null: off).")
    websocket_balance_snapshots: bool = _f(
        True, "Balances and positions the venue pushes over the websocket count as snapshots.")
    reconcile_event: Literal["auto", "force", "snapshot"] = _f(
        "auto", "How a reconnect, a silence or the period reconciles: `force` trusts the balance API (a re-anchor: "
                "pending fills are held, in both bounds but not in effective, until shown, settled, failed or aged "
                "out); `snapshot` takes it as an ordinary snapshot (keeps pending fills the API does not show yet, "
                "and the sums keep placing them); `auto`: `force` on `settlement: instant` markets and for a "
                "`manual` request, `snapshot` on `settlement: delayed` ones, whose balance API lags their fills "
                "(see the accuracy benchmark).")
    cancel_release_delay_s: float = _f(
        5.0, "A cancelled or expired order keeps its reservation this long, since fills matched before the cancel "
             "may still arrive; while the user stream is down, and this long after it is back, a failed order keeps "
             "it too (seconds).")
    balance_api_lag_s: float = _f(
        0.0, "The balance/position API may answer with a position this many seconds old (an indexer behind the "
             "chain): snapshots are stamped that much before the request, so a settlement the venue reported after "
             "the answer's real time is not taken as inside it. Set it to what the venue documents.")
    snapshot_request_interval_s: float | None = _f(
        None, "At most one balance/position request per connector this often, for fills that wait for a snapshot "
              "(seconds; null: pending_fill_max_age_s / 4).")


# The field definitions of the models below, by key. (Typed Any: mypy checks a ``**`` mapping's values against
# create_model's own keyword parameters too, ``__base__`` and ``__doc__`` included.)
_MARKET_FIELDS: dict[str, Any] = {key: _from_core(MarketOverrides, key) for key in SECTION_MARKET_KEYS}
_SECTION_FIELDS: dict[str, Any] = {key: _from_core(GuardConfig, key, SECTION_CHANGES.get(key)) for key in SECTION_KEYS}

InventoryGuardMarketSettings = create_model(
    "InventoryGuardMarketSettings", __base__=BaseClientModel, __module__=__name__,
    __doc__="Per-market overrides (keyed by trading pair, ``connector:pair``, asset or ``connector:asset``).",
    **_MARKET_FIELDS)

_SectionKeys = create_model(
    "_SectionKeys", __base__=BaseClientModel, __module__=__name__,
    **_SECTION_FIELDS,
    journal_path=(str | None, _f("data/inventory_guard.sqlite",
                                    "SQLite journal, relative to the Hummingbot root (empty or null: in memory only); "
                                    "a restart restores the guard from it. Two bots must not share one file.")),
    markets=(dict[str, InventoryGuardMarketSettings], _f(
        {}, "Per-market overrides of " + ", ".join(SECTION_MARKET_KEYS) + ", keyed by asset (`BTC`), pair "
            "(`BTC-USDT`) or either prefixed with `connector:` (which wins over the bare key).")))


class InventoryGuardSettings(AdapterSettings, _SectionKeys):
    """``inventory_guard:`` section. ``max_position`` is required: without a limit the guard refuses to start."""

    @model_validator(mode="after")
    def _core_accepts(self):
        # Validate the core-level values now (at config load), so a bad value names its key before anything runs.
        try:
            GuardConfig.model_validate({**self._top(), "markets": self._overrides()})
        except Exception as e:  # ConfigError / ValidationError from the core, re-raised as a field error
            raise ValueError(f"inventory_guard: {e}") from None
        return self

    def _top(self) -> dict:
        return {key: getattr(self, key) for key in SECTION_KEYS if getattr(self, key) is not None}

    def _overrides(self) -> dict:
        return {name: market.model_dump(exclude_none=True) for name, market in self.markets.items()}

    def to_guard_config(self, market_map):
        """The core ``GuardConfig`` for a ``markets.MarketMap``. Raises ``ConfigError`` naming the key for an
        override that matches no market, or for two keys of one market that disagree."""
        data = self._top()
        data["markets"] = resolve_overrides(self._overrides(), market_map, top=data, prefix="inventory_guard.markets.",
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
