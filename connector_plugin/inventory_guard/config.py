"""Guard configuration (pydantic v2), loaded from YAML, with errors that name the bad key.

```yaml
bot_name: mm-1                 # the `bot` label in metrics (default: the journal file's stem)
connector: binance             # the `connector` label (default "unknown"); overridable per market
max_position: "100"            # default limit for every market (base units); required here or per market
size_increment: "0.01"         # quantities are quantized to this step; gate sizes are rounded down to it
min_order_size: "0"            # a resized order smaller than this is blocked instead
pending_fill_max_age_s: 30     # pending fills older than this are dropped (age-out) with a warning
force_reconcile_error_gap: "5" # a force reconcile whose |effective - API| exceeds this logs an error
snapshot_max_age_s: null       # when set, buys are blocked while the last API snapshot is older than this
allow_negative_position: false # perpetuals: snapshots may be negative and sells may go short to -max_position
settlement: delayed            # "delayed": fills settle after their websocket message; "instant": before it (CEX)
reconcile_max_candidates: 64   # exact reconciliation searches at most this many pending fills (else safe rule)
reconcile_max_steps: 20000     # ... and at most this many search steps per snapshot (else safe rule)
seen_fill_keys_max: 100000     # how many fill keys are remembered for dedup (oldest forgotten first)
max_clock_jump_s: 3600         # an event whose t is further ahead of the guard's clock is rejected (null: no check)
markets:                       # per-market overrides of any of the keys above (except bot_name, seen_fill_keys_max,
                               # max_clock_jump_s)
  BTC-USDT: {max_position: "0.5", size_increment: "0.0001"}
```
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import strict_yaml
from .events import InvalidEvent, check_text
from .numbers import InvalidNumber, RejectedLiteral, to_decimal

FINEST_STEP = Decimal("1e-18")


class ConfigError(ValueError):
    """A configuration problem; the message names the key (``markets.BTC-USDT.max_position: ...``)."""


def _decimal(value: object, info) -> Decimal:
    try:
        return to_decimal(value, info.field_name)
    except InvalidNumber as exc:
        raise ValueError(str(exc).split(": ", 1)[-1]) from None


def _label(value: object) -> object:
    """Names that end up in the journal and in metric labels: clean text (see events.check_text)."""
    if isinstance(value, str):
        try:
            check_text(value, "")
        except InvalidEvent as exc:
            raise ValueError(str(exc).removeprefix(": ")) from None
    return value


class _Limits(BaseModel):
    """Keys that can be set globally and overridden per market."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connector: str | None = None
    max_position: Decimal | None = None
    size_increment: Decimal | None = None
    min_order_size: Decimal | None = None
    pending_fill_max_age_s: Decimal | None = None
    force_reconcile_error_gap: Decimal | None = None
    snapshot_max_age_s: Decimal | None = None
    allow_negative_position: bool | None = Field(None, strict=True)  # true/false only, not 1 or "yes"
    settlement: Literal["delayed", "instant"] | None = None
    reconcile_max_candidates: int | None = Field(default=None, ge=1, le=1024, strict=True)  # `true` is not 1
    reconcile_max_steps: int | None = Field(default=None, ge=1, le=1_000_000, strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _rejected_literal(cls, value):
        if isinstance(value, RejectedLiteral):  # YAML 010, a 5,000-digit integer...: say why, under the key
            raise ValueError(value.reason)
        return value

    @field_validator(
        "max_position", "size_increment", "min_order_size", "pending_fill_max_age_s", "force_reconcile_error_gap",
        "snapshot_max_age_s", mode="before",
    )
    @classmethod
    def _finite_decimal(cls, value, info):
        return None if value is None else _decimal(value, info)

    @field_validator("max_position", "min_order_size", "force_reconcile_error_gap")
    @classmethod
    def _not_negative(cls, value):
        if value is not None and value < 0:
            raise ValueError("must not be negative")
        return value

    @field_validator("size_increment", "pending_fill_max_age_s", "snapshot_max_age_s")
    @classmethod
    def _positive(cls, value):
        if value is not None and value <= 0:
            raise ValueError("must be positive")
        return value

    @field_validator("size_increment")
    @classmethod
    def _representable_step(cls, value):
        if value is not None and value < FINEST_STEP:
            raise ValueError(f"must be at least {FINEST_STEP} (the finest step the guard computes exactly)")
        return value

    @field_validator("connector")
    @classmethod
    def _label(cls, value):
        return _label(value)


class MarketOverrides(_Limits):
    pass


@dataclass(frozen=True, slots=True)
class MarketConfig:
    """The fully resolved settings of one market."""

    name: str
    connector: str
    max_position: Decimal
    size_increment: Decimal
    min_order_size: Decimal
    pending_fill_max_age_s: Decimal
    force_reconcile_error_gap: Decimal
    snapshot_max_age_s: Decimal | None
    allow_negative_position: bool
    settlement: str = "delayed"
    reconcile_max_candidates: int = 64
    reconcile_max_steps: int = 20_000


class UnknownMarket(ValueError):
    pass


class GuardConfig(_Limits):
    bot_name: str | None = None
    connector: str = "unknown"
    max_position: Decimal | None = None
    size_increment: Decimal = Decimal("0.01")
    min_order_size: Decimal = Decimal("0")
    pending_fill_max_age_s: Decimal = Decimal("30")
    force_reconcile_error_gap: Decimal = Decimal("5")
    snapshot_max_age_s: Decimal | None = None
    allow_negative_position: bool = Field(False, strict=True)
    settlement: Literal["delayed", "instant"] = "delayed"
    reconcile_max_candidates: int = Field(default=64, ge=1, le=1024, strict=True)
    reconcile_max_steps: int = Field(default=20_000, ge=1, le=1_000_000, strict=True)
    seen_fill_keys_max: int = Field(default=100_000, ge=1, le=10_000_000, strict=True)  # `true` is not 1
    max_clock_jump_s: Decimal | None = Decimal(3600)
    markets: dict[str, MarketOverrides] = Field(default_factory=dict)

    @field_validator("bot_name")
    @classmethod
    def _bot_name(cls, value):
        return _label(value)

    @field_validator("max_clock_jump_s", mode="before")
    @classmethod
    def _clock_jump(cls, value, info):
        if value is None:
            return None
        number = _decimal(value, info)
        if number <= 0:
            raise ValueError("must be positive (or null: no check)")
        return number

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
        o = overrides or MarketOverrides()

        def pick(key: str):
            value = getattr(o, key)
            return getattr(self, key) if value is None else value

        return MarketConfig(
            name=name,
            connector=pick("connector"),
            max_position=pick("max_position"),
            size_increment=pick("size_increment"),
            min_order_size=pick("min_order_size"),
            pending_fill_max_age_s=pick("pending_fill_max_age_s"),
            force_reconcile_error_gap=pick("force_reconcile_error_gap"),
            snapshot_max_age_s=pick("snapshot_max_age_s"),
            allow_negative_position=pick("allow_negative_position"),
            settlement=pick("settlement"),
            reconcile_max_candidates=pick("reconcile_max_candidates"),
            reconcile_max_steps=pick("reconcile_max_steps"),
        )


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
