"""Input events: the only way state changes. Parsing validates everything; the core trusts these objects.

Times (``t``, ``as_of``) are Decimal seconds taken from the event, never from a wall clock. Sizes are positive
Decimals as given; the core quantizes them to the market's ``size_increment``.
"""

from __future__ import annotations

import hashlib
import json
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from .numbers import InvalidNumber, RejectedLiteral, non_negative, positive, show, to_decimal

Side = Literal["buy", "sell"]
SIDES: tuple[Side, ...] = ("buy", "sell")
FORCE_RECONCILE_REASONS = ("ws_reconnect", "sequence_gap", "periodic", "manual")
ZERO = Decimal(0)


class BlockReason(StrEnum):
    """Why an order was blocked or resized: the one vocabulary of decisions, logs and ``orders_blocked{reason}``."""

    # decided by the gate (gate.decide), for a Check
    POSITION_LIMIT = "position_limit"
    INSUFFICIENT_INVENTORY = "insufficient_inventory"
    SNAPSHOT_STALE = "snapshot_stale"
    HALTED = "halted"
    # decided by the host adapter without the gate, and reported with OrderBlocked
    GUARD_ERROR = "guard_error"  # the guard itself failed: the market is halted, orders adding exposure blocked
    UNKNOWN_MARKET = "unknown_market"  # a pair the guard does not guard, on a guarded connector
    INVALID_SIZE = "invalid_size"  # not a positive finite size, below size_increment, or rounded to 0 by the venue


HOST_REASONS = (BlockReason.GUARD_ERROR, BlockReason.UNKNOWN_MARKET, BlockReason.INVALID_SIZE)


class InvalidEvent(ValueError):
    """An event that cannot be applied; the message says which field and why. State is never changed by one."""


@dataclass(frozen=True, slots=True)
class Fill:
    t: Decimal
    market: str
    side: Side
    size: Decimal
    price: Decimal | None = None
    trade_id: str | None = None
    order_id: str | None = None
    fee_base: Decimal = ZERO
    type: str = field(default="fill", init=False, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        """Dedup key: (trade_id, order_id). One venue trade may fill several of our orders; each fill counts."""
        return (self.trade_id or synthesize_trade_id(self), self.order_id or "")


@dataclass(frozen=True, slots=True)
class Snapshot:
    t: Decimal
    market: str
    size: Decimal
    as_of: Decimal | None = None
    type: str = field(default="snapshot", init=False, repr=False)


@dataclass(frozen=True, slots=True)
class ForceReconcile:
    t: Decimal
    market: str
    size: Decimal
    reason: str
    type: str = field(default="force_reconcile", init=False, repr=False)


@dataclass(frozen=True, slots=True)
class OrderOpen:
    t: Decimal
    market: str
    order_id: str
    side: Side
    size: Decimal
    price: Decimal | None = None
    type: str = field(default="order_open", init=False, repr=False)


@dataclass(frozen=True, slots=True)
class OrderClosed:
    t: Decimal
    order_id: str
    type: str = field(default="order_closed", init=False, repr=False)


@dataclass(frozen=True, slots=True)
class Check:
    t: Decimal
    market: str
    side: Side
    size: Decimal
    type: str = field(default="check", init=False, repr=False)


@dataclass(frozen=True, slots=True)
class OrderBlocked:
    """The host adapter blocked an order without a Check (one of ``HOST_REASONS``): counted in ``orders_blocked``.
    Written by the host adapter only."""

    t: Decimal
    market: str
    side: Side
    reason: BlockReason
    type: str = field(default="order_blocked", init=False, repr=False)


@dataclass(frozen=True, slots=True)
class Tick:
    t: Decimal
    type: str = field(default="tick", init=False, repr=False)


@dataclass(frozen=True, slots=True)
class TradeFailed:
    t: Decimal
    trade_id: str
    type: str = field(default="trade_failed", init=False, repr=False)


@dataclass(frozen=True, slots=True)
class FillSettled:
    """The venue reports a trade final (e.g. Polymarket's CONFIRMED, an on-chain receipt): it can no longer fail,
    and a snapshot taken at or after ``t`` includes it. Without ``order_id`` it applies to every fill of the trade."""

    t: Decimal
    trade_id: str
    order_id: str | None = None
    type: str = field(default="fill_settled", init=False, repr=False)


@dataclass(frozen=True, slots=True)
class Halt:
    """Fail closed: block buys in ``market`` until a Resume (written by the host adapter on a guard error)."""

    t: Decimal
    market: str
    reason: str
    type: str = field(default="halt", init=False, repr=False)


@dataclass(frozen=True, slots=True)
class Resume:
    t: Decimal
    market: str
    type: str = field(default="resume", init=False, repr=False)


Event = (
    Fill | Snapshot | ForceReconcile | OrderOpen | OrderClosed | Check | OrderBlocked | Tick | TradeFailed
    | FillSettled | Halt | Resume
)


def synthesize_trade_id(fill: Fill) -> str:
    """A deterministic id for a fill the venue gave no trade id: the same message re-delivered gets the same id.

    The arrival time is part of it on purpose: two genuinely distinct fills with identical content (two partial
    fills of 5 on one order at one price) must not collapse into one — that would under-count exposure. A
    re-delivery at a different time is then counted twice, an over-count the age-out bounds.
    """
    material = json.dumps(
        [fill.market, fill.side, str(fill.size), _s(fill.price), fill.order_id, str(fill.fee_base), str(fill.t)],
        separators=(",", ":"),
    )
    return "syn-" + hashlib.sha256(material.encode()).hexdigest()[:20]


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------------------------------------------------------
# Parsing from JSON-like mappings (replay traces, the journal's own event log)


def parse_event(obj: object) -> Event:
    """Build an event from a mapping such as ``{"t": 1, "type": "fill", ...}``; raise InvalidEvent on any problem.

    Strict: every field must be one the event type accepts (a misspelt ``trade_Id`` is an error, not a fill without
    an id), text fields must be clean text (see ``check_text``), numbers are bounded before any arithmetic.
    """
    if not isinstance(obj, Mapping):
        raise InvalidEvent(f"an event must be a JSON object, got {type(obj).__name__}")
    kind = event_type(obj, _PARSERS)
    check_fields(obj, kind, accepted_fields(kind))
    try:
        return _PARSERS[kind](_Fields(obj))
    except InvalidNumber as exc:
        raise InvalidEvent(str(exc)) from None


def event_type(obj: Mapping, known) -> str:
    """The ``type`` of an event mapping, which must be a string naming one of ``known``."""
    kind = obj.get("type")
    if kind is None:
        raise InvalidEvent(f"type: required (one of {', '.join(sorted(known))})")
    if not isinstance(kind, str):
        raise InvalidEvent(f"type: expected a string, got {type(kind).__name__}")
    if kind not in known:
        raise InvalidEvent(f"type: unknown event type {show(kind)} (expected one of {', '.join(sorted(known))})")
    return kind


def accepted_fields(kind: str) -> frozenset[str]:
    """The fields an event type accepts: exactly its dataclass fields (what ``event_to_dict`` writes)."""
    fields = _ACCEPTED.get(kind)
    if fields is None:
        for cls in typing.get_args(Event):
            if cls.__dataclass_fields__["type"].default == kind:
                fields = _ACCEPTED[kind] = frozenset(cls.__dataclass_fields__)
                break
        else:
            raise InvalidEvent(f"type: no event class for {kind!r}")
    return fields


_ACCEPTED: dict[str, frozenset[str]] = {}


def check_fields(obj: Mapping, kind: str, accepted: frozenset[str]) -> None:
    unknown = [name for name in obj if name not in accepted]
    if unknown:
        names = ", ".join(show(name) if not isinstance(name, str) or not name.isidentifier() else name
                          for name in sorted(unknown, key=str))
        raise InvalidEvent(f"{names}: unknown field{'s' if len(unknown) > 1 else ''} for {kind} "
                           f"(accepted: {', '.join(sorted(accepted))})")


# Control characters (C0, DEL, C1) and lone surrogates: a surrogate cannot be encoded as UTF-8, so an id holding
# one could be acknowledged and then fail every write and every later open of the journal.
_BAD_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
MAX_TEXT = 256


def check_text(text: str, name: str) -> str:
    """``text`` if it is usable as an id or label (non-empty, at most 256 characters, round-trips through UTF-8
    and JSON, no control characters); raise InvalidEvent naming ``name`` otherwise."""
    if not text.strip():
        raise InvalidEvent(f"{name}: must not be empty")
    if len(text) > MAX_TEXT:
        raise InvalidEvent(f"{name}: longer than {MAX_TEXT} characters")
    bad = _BAD_TEXT.search(text)
    if bad:
        kind = "a lone surrogate" if "\ud800" <= bad.group() <= "\udfff" else "a control character"
        raise InvalidEvent(f"{name}: contains {kind} (U+{ord(bad.group()):04X}) at position {bad.start()}")
    return text


class _Fields:
    __slots__ = ("get",)

    def __init__(self, obj: Mapping) -> None:
        self.get = obj.get

    def _required(self, name: str) -> object:
        value = self.get(name)
        if value is None:
            raise InvalidEvent(f"{name}: required")
        return value

    def time(self, name: str = "t") -> Decimal:
        return non_negative(self._required(name), name)

    def text(self, name: str) -> str:
        value = self._required(name)
        return check_text(value, name) if type(value) is str else self._text(value, name)

    def optional_text(self, name: str) -> str | None:
        value = self.get(name)
        if value is None:
            return None
        return check_text(value, name) if type(value) is str else self._text(value, name)

    @staticmethod
    def _text(value: object, name: str) -> str:
        if type(value) is str:
            return check_text(value, name)
        if isinstance(value, RejectedLiteral):
            raise InvalidEvent(f"{name}: {value.reason}")
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InvalidEvent(f"{name}: expected a string, got {type(value).__name__}")
        if isinstance(value, int) and value.bit_length() > 1000:  # str() would be longer than any id anyway
            raise InvalidEvent(f"{name}: longer than {MAX_TEXT} characters")
        return check_text(str(value), name)

    def side(self) -> Side:
        value = self._required("side")
        if value not in SIDES:
            raise InvalidEvent(f"side: expected 'buy' or 'sell', got {show(value)}")
        return value

    def size(self, name: str = "size") -> Decimal:
        return positive(self._required(name), name)

    def signed(self, name: str = "size") -> Decimal:
        return to_decimal(self._required(name), name)

    def optional(self, name: str, convert: Callable[[object, str], Decimal]) -> Decimal | None:
        value = self.get(name)
        return None if value is None else convert(value, name)


def _fill(f: _Fields) -> Fill:
    return Fill(
        t=f.time(),
        market=f.text("market"),
        side=f.side(),
        size=f.size(),
        price=f.optional("price", positive),
        trade_id=f.optional_text("trade_id"),
        order_id=f.optional_text("order_id"),
        fee_base=f.optional("fee_base", to_decimal) or ZERO,  # negative: a rebate paid in the base asset
    )


def _snapshot(f: _Fields) -> Snapshot:
    return Snapshot(t=f.time(), market=f.text("market"), size=f.signed(), as_of=f.optional("as_of", non_negative))


def _force_reconcile(f: _Fields) -> ForceReconcile:
    reason = f.optional_text("reason") or "manual"
    if reason not in FORCE_RECONCILE_REASONS:
        raise InvalidEvent(f"reason: expected one of {', '.join(FORCE_RECONCILE_REASONS)}, got {show(reason)}")
    return ForceReconcile(t=f.time(), market=f.text("market"), size=f.signed(), reason=reason)


def _order_open(f: _Fields) -> OrderOpen:
    return OrderOpen(
        t=f.time(),
        market=f.text("market"),
        order_id=f.text("order_id"),
        side=f.side(),
        size=f.size(),
        price=f.optional("price", positive),
    )


def _order_closed(f: _Fields) -> OrderClosed:
    return OrderClosed(t=f.time(), order_id=f.text("order_id"))


def _check(f: _Fields) -> Check:
    return Check(t=f.time(), market=f.text("market"), side=f.side(), size=f.size())


def _order_blocked(f: _Fields) -> OrderBlocked:
    reason = f.text("reason")
    if reason not in HOST_REASONS:
        raise InvalidEvent(f"reason: expected one of {', '.join(HOST_REASONS)}, got {show(reason)}")
    return OrderBlocked(t=f.time(), market=f.text("market"), side=f.side(), reason=BlockReason(reason))


def _tick(f: _Fields) -> Tick:
    return Tick(t=f.time())


def _trade_failed(f: _Fields) -> TradeFailed:
    return TradeFailed(t=f.time(), trade_id=f.text("trade_id"))


def _fill_settled(f: _Fields) -> FillSettled:
    return FillSettled(t=f.time(), trade_id=f.text("trade_id"), order_id=f.optional_text("order_id"))


def _halt(f: _Fields) -> Halt:
    return Halt(t=f.time(), market=f.text("market"), reason=f.text("reason"))


def _resume(f: _Fields) -> Resume:
    return Resume(t=f.time(), market=f.text("market"))


_PARSERS: dict[str, Callable[[_Fields], Event]] = {
    "fill": _fill,
    "snapshot": _snapshot,
    "force_reconcile": _force_reconcile,
    "order_open": _order_open,
    "order_closed": _order_closed,
    "check": _check,
    "order_blocked": _order_blocked,
    "tick": _tick,
    "trade_failed": _trade_failed,
    "fill_settled": _fill_settled,
    "halt": _halt,
    "resume": _resume,
}

# The replay CLI's public contract accepts exactly these; halt, resume and order_blocked are written by the host
# adapter only.
REPLAY_TYPES = frozenset(_PARSERS) - {"halt", "resume", "order_blocked"}


def event_to_dict(event: Event) -> dict:
    """The canonical JSON form (decimals as strings); ``parse_event(event_to_dict(e)) == e``."""
    out: dict = {"type": event.type}
    names = _FIELD_NAMES.get(type(event))
    if names is None:
        names = _FIELD_NAMES[type(event)] = tuple(name for name in event.__dataclass_fields__ if name != "type")
    for name in names:
        value = getattr(event, name)
        if value is not None:
            out[name] = str(value) if isinstance(value, Decimal) else value
    return out


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}  # each event class's fields but type, in order (event_to_dict)
