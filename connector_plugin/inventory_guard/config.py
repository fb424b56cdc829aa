"""Guard configuration (pydantic v2), loaded from YAML, with errors that name the bad key.

``GuardConfig`` is the one declaration of every key: its type (with the checks, e.g. ``PositiveDecimal``), its
default and its description (``Field(description=...)``). The per-market overrides (``MarketOverrides``), the
resolved settings of a market (``MarketConfig``), the Hummingbot ``inventory_guard:`` section and the key tables
of ``connector_plugin/README.md`` (``python -m inventory_guard.config_doc``) are derived from it.

```yaml
max_position: "100"            # the only key without a default (here or per market)
size_increment: "0.01"
markets:
  BTC-USDT: {max_position: "0.5", size_increment: "0.0001"}
```
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from annotated_types import Ge, Le
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from . import strict_yaml
from .events import InvalidEvent, check_text
from .numbers import InvalidNumber, refuse_rejected, to_decimal

FINEST_STEP = Decimal("1e-18")


class ConfigError(ValueError):
    """A configuration problem; the message names the key (``markets.BTC-USDT.max_position: ...``)."""


class Shown(str):
    """How a type reads in the generated key tables (``config_doc``); pydantic ignores it."""


def _decimal(value: object, info) -> Decimal:
    try:
        return to_decimal(value, info.field_name)
    except InvalidNumber as exc:
        raise ValueError(str(exc).split(": ", 1)[-1]) from None


def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be positive")
    return value


def _positive_or_null(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be positive (or null: no check)")
    return value


def _representable_step(value: Decimal) -> Decimal:
    if value < FINEST_STEP:
        raise ValueError(f"must be at least {FINEST_STEP} (the finest step the guard computes exactly)")
    return value


def _label(value: str) -> str:
    """Names that end up in the journal and in metric labels: clean text (see events.check_text)."""
    try:
        check_text(value, "")
    except InvalidEvent as exc:
        raise ValueError(str(exc).removeprefix(": ")) from None
    return value


# The types of the keys: each carries its checks, so every model built from a key checks it the same way.
NonNegativeDecimal = Annotated[Decimal, BeforeValidator(_decimal), AfterValidator(_not_negative),
                               Shown("decimal ≥ 0")]
PositiveDecimal = Annotated[Decimal, BeforeValidator(_decimal), AfterValidator(_positive), Shown("decimal > 0")]
Step = Annotated[Decimal, BeforeValidator(_decimal), AfterValidator(_positive), AfterValidator(_representable_step),
                 Shown(f"decimal ≥ {FINEST_STEP}")]
ClockJump = Annotated[Decimal, BeforeValidator(_decimal), AfterValidator(_positive_or_null), Shown("decimal > 0")]
Label = Annotated[str, AfterValidator(_label), Shown("text")]
Flag = Annotated[bool, Strict(), Shown("`true` or `false`")]  # true/false only, not 1 or "yes"


# Integers in a range: `true` is not 1.
CandidateCount = Annotated[int, Strict(), Ge(1), Le(1024)]
StepCount = Annotated[int, Strict(), Ge(1), Le(1_000_000)]
FillKeyCount = Annotated[int, Strict(), Ge(1), Le(10_000_000)]


def _key(default, description: str, *, per_market: bool = False):
    """A key's default and description; ``per_market``: it can also be set under ``markets.<name>``."""
    return Field(default, description=description, json_schema_extra={"per_market": True} if per_market else None)


class _Keys(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _rejected_literal(cls, value):
        return refuse_rejected(value)


class UnknownMarket(ValueError):
    pass


class GuardConfig(_Keys):
    """The guard's configuration: every key, its type, default and meaning."""

    bot_name: Label | None = _key(
        None, "The `bot` label of the journal and of the exporter's metrics (null: the journal file's stem).")
    connector: Label = _key("unknown", "The `connector` label of the market's metrics.", per_market=True)
    max_position: NonNegativeDecimal | None = _key(
        None, "Position limit in base units: buys are checked against the conservative exposure (confirmed + every "
              "pending buy + open buy reservations), sells against what is available to sell. Required, at the top "
              "(the limit of "
              "every market) or for each market under `markets:`; without a top-level value only the markets listed "
              "there are known.", per_market=True)
    size_increment: Step = _key(
        Decimal("0.01"), "Quantity step: quantities are quantized to it and allowed sizes rounded down to it (set it "
                         "to the venue's base increment, e.g. 0.00001 for BTC).", per_market=True)
    min_order_size: NonNegativeDecimal = _key(
        Decimal("0"), "A resized order smaller than this is blocked instead.", per_market=True)
    pending_fill_max_age_s: PositiveDecimal = _key(
        Decimal("30"), "The settlement window (seconds): a pending fill that a snapshot taken this long after its "
                       "arrival does not show is dropped as a phantom (aged out, with a warning). Set it to what the "
                       "venue guarantees.", per_market=True)
    force_reconcile_error_gap: NonNegativeDecimal = _key(
        Decimal("5"), "A force reconcile whose gap between the effective and the API position exceeds this is logged "
                      "as an error.", per_market=True)
    snapshot_max_age_s: PositiveDecimal | None = _key(
        None, "When set, buys are blocked while the snapshot age (now - confirmed_at: the last applied snapshot or "
              "force reconcile) is above this (seconds; null: no check).",
        per_market=True)
    allow_negative_position: Flag = _key(
        False, "Perpetuals: snapshots may be negative and sells may go short down to -max_position.", per_market=True)
    settlement: Literal["delayed", "instant"] = _key(
        "delayed", "`delayed`: a fill settles after the venue reports it (on-chain venues); `instant`: it is in the "
                   "balance when reported (centralized exchanges).", per_market=True)
    fill_message_max_delay_s: NonNegativeDecimal | None = _key(
        Decimal("2"), "`instant` venues: the most a fill's websocket message can arrive after its match (seconds). "
                      "Once this long has passed since a snapshot's as_of, every fill inside it has arrived, so the "
                      "bounds credit the pending fills that arrived since (settled, by the venue's instant "
                      "settlement) exactly; null: never (pending sells are then credited only once a snapshot shows "
                      "them).",
        per_market=True)
    instant_credit_pause_s: NonNegativeDecimal = _key(
        Decimal("300"), "`instant` venues: after the venue contradicts its instant settlement (a snapshot does not "
                        "show a fill that arrived before its as_of, a trade fails, a settlement mismatch), the pending "
                        "fills are not credited for this long (seconds; logged).", per_market=True)
    settlement_notice_max_delay_s: NonNegativeDecimal | None = _key(
        None, "`delayed` venues with a status feed: the most a `fill_settled` notice can arrive after the trade "
              "settled (seconds). A notice later than this after a snapshot's as_of says the fill settled after it: "
              "outside that snapshot (a settled sell is credited at once, and the sums have one candidate less); "
              "likewise a fill held by a re-anchor and reported settled later than this after the anchor's as_of "
              "settled after it (confirmed by identity at the next snapshot); null: unknown (no such inference).",
        per_market=True)
    reconcile_max_candidates: CandidateCount = _key(
        64, "The exact reconciliation searches at most this many pending fills per snapshot; past this bound (or "
            "reconcile_max_steps) it re-anchors on the API (counted).", per_market=True)
    reconcile_max_steps: StepCount = _key(
        20_000, "At most this many memoized steps per exact search (a snapshot runs at most three: counting the "
                "subsets, listing a few, the bounds' worst case); past it the snapshot re-anchors or the plain bound "
                "applies.", per_market=True)
    seen_fill_keys_max: FillKeyCount = _key(
        100_000, "How many fill keys (and early settlement notices) are remembered for de-duplication; the oldest "
                 "are forgotten first.")
    max_clock_jump_s: ClockJump | None = _key(
        Decimal(3600), "An event whose t is further ahead of the guard's clock than this is rejected (a timestamp in "
                       "milliseconds?); null: no check.")
    markets: dict[str, MarketOverrides] = Field(
        default_factory=dict, description="Per-market overrides of the per-market keys, by market name.")

    @field_validator("markets", mode="before")
    @classmethod
    def _market_names(cls, value):
        if isinstance(value, dict):
            for name in value:
                if isinstance(name, str) and name.strip():
                    try:
                        _label(name)
                    except ValueError as exc:
                        raise ValueError(f"market name {name!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _every_market_has_a_limit(self):
        if self.max_position is None:
            if not self.markets:
                raise ValueError(
                    "max_position: required (a default for every market, or one per market under markets:)")
            for name, market in self.markets.items():
                if market.max_position is None:
                    raise ValueError(f"markets.{name}.max_position: required when there is no top-level max_position")
        for name in self.markets:
            if not name.strip():
                raise ValueError("markets: a market name must not be empty")
        return self

    def market(self, name: str) -> MarketConfig:
        """Resolve one market's settings; raise UnknownMarket when it is not configured and there is no default."""
        overrides = self.markets.get(name)
        if overrides is None and self.max_position is None:
            raise UnknownMarket(f"market: unknown market {name!r} (configured: {', '.join(sorted(self.markets))})")

        def pick(key: str):
            value = None if overrides is None else getattr(overrides, key)
            return getattr(self, key) if value is None else value

        return MarketConfig(name, **{key: pick(key) for key in PER_MARKET_KEYS})


def per_market(field) -> bool:
    return bool((field.json_schema_extra or {}).get("per_market"))


PER_MARKET_KEYS = tuple(key for key, field in GuardConfig.model_fields.items() if per_market(field))

def _override(key: str):
    """A per-market key under ``markets.<name>``: unset (None) means the top-level value."""
    return Field(None, description=GuardConfig.model_fields[key].description)


class MarketOverrides(_Keys):
    """The keys a market may override (unset: the top-level value), with the types of ``GuardConfig``."""

    connector: Label | None = _override("connector")
    max_position: NonNegativeDecimal | None = _override("max_position")
    size_increment: Step | None = _override("size_increment")
    min_order_size: NonNegativeDecimal | None = _override("min_order_size")
    pending_fill_max_age_s: PositiveDecimal | None = _override("pending_fill_max_age_s")
    force_reconcile_error_gap: NonNegativeDecimal | None = _override("force_reconcile_error_gap")
    snapshot_max_age_s: PositiveDecimal | None = _override("snapshot_max_age_s")
    allow_negative_position: Flag | None = _override("allow_negative_position")
    settlement: Literal["delayed", "instant"] | None = _override("settlement")
    fill_message_max_delay_s: NonNegativeDecimal | None = _override("fill_message_max_delay_s")
    instant_credit_pause_s: NonNegativeDecimal | None = _override("instant_credit_pause_s")
    settlement_notice_max_delay_s: NonNegativeDecimal | None = _override("settlement_notice_max_delay_s")
    reconcile_max_candidates: CandidateCount | None = _override("reconcile_max_candidates")
    reconcile_max_steps: StepCount | None = _override("reconcile_max_steps")


GuardConfig.model_rebuild()


@dataclass(frozen=True, slots=True)
class MarketConfig:
    """The fully resolved settings of one market: its name and every per-market key of GuardConfig."""

    name: str
    connector: str
    max_position: Decimal
    size_increment: Decimal
    min_order_size: Decimal
    pending_fill_max_age_s: Decimal
    force_reconcile_error_gap: Decimal
    snapshot_max_age_s: Decimal | None
    allow_negative_position: bool
    settlement: Literal["delayed", "instant"]
    fill_message_max_delay_s: Decimal | None
    instant_credit_pause_s: Decimal
    settlement_notice_max_delay_s: Decimal | None
    reconcile_max_candidates: int
    reconcile_max_steps: int


def describe_validation_error(exc: ValidationError, source: str = "config") -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see the documented keys)"
        if message.split(":", 1)[0].strip() == key or ": " in message and not error["loc"]:
            lines.append(f"{source}: {message}")
        else:
            lines.append(f"{source}: {key}: {message}")
    return "\n".join(lines)


def parse_config(data: object, source: str = "config") -> GuardConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys, got {type(data).__name__}")
    try:
        return GuardConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from None


def load_config(path: str | Path) -> GuardConfig:
    """Read a guard config file as strict YAML (see ``strict_yaml``: UTF-8, no duplicate keys, YAML 1.2 scalars)."""
    path = Path(path)
    try:
        data = strict_yaml.load(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    except strict_yaml.StrictYAMLError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return parse_config(data, str(path))
