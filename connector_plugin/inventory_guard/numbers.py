"""Decimal parsing and quantization: the only way numbers enter the core.

Every quantity is a ``Decimal``. Floats are converted through their shortest repr (``0.1`` becomes ``Decimal("0.1")``,
not the binary expansion), and no arithmetic is ever done in float.
"""

from __future__ import annotations

import functools
import re
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal

# Anything larger than this is a unit or parsing mistake, not a position: reject it instead of carrying it along.
MAX_MAGNITUDE = Decimal("1e15")
# Bounds checked on the digits themselves, before any arithmetic (``1E+1000000`` or a 5,000-digit integer must be
# an error naming the field, never a decimal.Overflow or a slow conversion).
MAX_DIGITS = 100  # significant digits
MAX_PLACES = 100  # digits after the decimal point
MAX_LITERAL = 2 * MAX_DIGITS + 10  # characters in a number written as text

# Enough precision for MAX_MAGNITUDE at the finest size step we accept (1e-18) with room to spare.
CONTEXT = Context(prec=60)

# ASCII digits only: Decimal() alone would also read "1_0" and Arabic-Indic digits as 10.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_PLAIN = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)", re.ASCII)  # the same without an exponent
_NON_FINITE = re.compile(r"[+-]?(?:s?nan|inf|infinity)", re.ASCII | re.IGNORECASE)


class InvalidNumber(ValueError):
    """A value that is not a usable finite decimal quantity."""


class RejectedLiteral:
    """A literal a parser refused to convert (JSON ``NaN``, a 5,000-digit integer, YAML ``010``), kept in place of
    the value so that the field it sits in can be named in the error: ``size: NaN is not a finite number``."""

    __slots__ = ("text", "reason")

    def __init__(self, text: str, reason: str) -> None:
        self.text = text
        self.reason = reason

    def __repr__(self) -> str:
        return show(self.text)


def refuse_rejected(value: object) -> object:
    """A config validator's first step: a RejectedLiteral (YAML ``010``, a 5,000-digit integer...) raises its reason,
    so that the error names the key it sits under; any other value passes unchanged."""
    if isinstance(value, RejectedLiteral):
        raise ValueError(value.reason)
    return value


def show(value: object, limit: int = 40) -> str:
    """A short repr for error messages: never huge, never an error itself (a 5,000-digit int has no str())."""
    if isinstance(value, RejectedLiteral):
        value = value.text
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    text = str(value) if isinstance(value, Decimal) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def to_decimal(value: object, field: str) -> Decimal:
    """Parse ``value`` (Decimal, int, float or numeric string) into a finite Decimal of sane magnitude."""
    if type(value) is str and len(value) <= MAX_DIGITS and _PLAIN.fullmatch(value):  # the usual case, first:
        number = Decimal(value)  # no exponent, so its length bounds its digits and decimal places
        if -MAX_MAGNITUDE <= number <= MAX_MAGNITUDE:
            return number
        raise InvalidNumber(f"{field}: {show(value)} is out of range (magnitude above {MAX_MAGNITUDE:f})")
    if isinstance(value, bool):
        raise InvalidNumber(f"{field}: expected a number, got a boolean")
    if isinstance(value, RejectedLiteral):
        raise InvalidNumber(f"{field}: {value.reason}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        if value.bit_length() > 64:  # far beyond MAX_MAGNITUDE; str() of a huge int is itself an error
            raise InvalidNumber(f"{field}: {show(value)} is out of range (magnitude above {MAX_MAGNITUDE:f})")
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        if len(value) > MAX_LITERAL:
            raise InvalidNumber(f"{field}: {show(value)} is too long for a number ({len(value)} characters)")
        if not _NUMBER.fullmatch(value):
            if _NON_FINITE.fullmatch(value):
                raise InvalidNumber(f"{field}: {value!r} is not finite")
            raise InvalidNumber(f"{field}: {show(value)} is not a number (ASCII digits, an optional sign, point "
                                "and exponent)")
        number = Decimal(value)
    else:
        raise InvalidNumber(f"{field}: expected a number or numeric string, got {type(value).__name__}")
    if not number.is_finite():
        raise InvalidNumber(f"{field}: {show(value)} is not finite")
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite: only NaN and the infinities have 'n', 'N' or 'F'
    if len(digits) > MAX_DIGITS:
        raise InvalidNumber(f"{field}: {show(value)} has more than {MAX_DIGITS} significant digits")
    if exponent < -MAX_PLACES:
        raise InvalidNumber(f"{field}: {show(value)} has more than {MAX_PLACES} digits after the point")
    if number.adjusted() > 15 or exponent > 15 or number.copy_abs() > MAX_MAGNITUDE:  # no arithmetic, no context
        raise InvalidNumber(f"{field}: {show(value)} is out of range (magnitude above {MAX_MAGNITUDE:f})")
    return number


def positive(value: object, field: str) -> Decimal:
    number = to_decimal(value, field)
    if number <= 0:
        raise InvalidNumber(f"{field}: must be positive, got {number}")
    return number


def non_negative(value: object, field: str) -> Decimal:
    number = to_decimal(value, field)
    if number < 0:
        raise InvalidNumber(f"{field}: must not be negative, got {number}")
    return number


@functools.lru_cache(maxsize=256)
def _decimal_grid(step: Decimal, exponent: int) -> tuple[Decimal, bool] | None:
    """For steps like 0.01 or 1.0 (10**-k): the exponent Decimal.quantize can round to directly, and whether the
    result needs the step's own exponent afterwards (1.0 -> "12.0"); None for other steps (0.5, 5, 100).
    Keyed by the exponent too: Decimal("1.0") and Decimal("1") are equal and hash alike."""
    grid = step.normalize(CONTEXT)
    _sign, digits, grid_exponent = grid.as_tuple()
    assert isinstance(grid_exponent, int)  # steps are finite
    if digits != (1,) or grid_exponent > 0:
        return None
    return grid, grid_exponent != exponent


def quantize(value: Decimal, step: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round ``value`` to a whole multiple of ``step`` (any positive step, e.g. 0.01 or 5)."""
    exponent = step.as_tuple().exponent
    assert isinstance(exponent, int)  # steps are finite
    fast = _decimal_grid(step, exponent)
    if fast is not None:  # one C call
        result = value.quantize(fast[0], rounding=rounding, context=CONTEXT)
        return result.quantize(step, context=CONTEXT) if fast[1] else result
    steps = CONTEXT.divide(value, step).to_integral_value(rounding=rounding)
    result = CONTEXT.multiply(steps, step)
    return result.quantize(step, context=CONTEXT) if exponent < 0 else result


def round_down(value: Decimal, step: Decimal) -> Decimal:
    return quantize(value, step, ROUND_DOWN)


def fmt(value: Decimal | None) -> str | None:
    """Plain decimal string without exponent (``1E+1`` becomes ``10``); None stays None."""
    if value is None:
        return None
    if value == 0:
        value = value.copy_abs()  # no "-0.00"
    return format(value, "f")
