"""Decimal parsing and quantization: the only way numbers enter the core.

Every quantity is a ``Decimal``. Floats are converted through their shortest repr (``0.1`` becomes ``Decimal("0.1")``,
not the binary expansion), and no arithmetic is ever done in float.
"""

from __future__ import annotations

import functools

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

# Anything larger than this is a unit or parsing mistake, not a position: reject it instead of carrying it along.
MAX_MAGNITUDE = Decimal("1e15")

# Enough precision for MAX_MAGNITUDE at the finest size step we accept (1e-18) with room to spare.
CONTEXT = Context(prec=60)


class InvalidNumber(ValueError):
    """A value that is not a usable finite decimal quantity."""


def to_decimal(value: object, field: str) -> Decimal:
    """Parse ``value`` (Decimal, int, float or numeric string) into a finite Decimal of sane magnitude."""
    if isinstance(value, bool):
        raise InvalidNumber(f"{field}: expected a number, got a boolean")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise InvalidNumber(f"{field}: {value!r} is not a number") from None
    else:
        raise InvalidNumber(f"{field}: expected a number or numeric string, got {type(value).__name__}")
    if not number.is_finite():
        raise InvalidNumber(f"{field}: {value!r} is not finite")
    if abs(number) > MAX_MAGNITUDE:
        raise InvalidNumber(f"{field}: {value!r} is out of range (magnitude above {MAX_MAGNITUDE:f})")
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
    if digits != (1,) or grid_exponent > 0:
        return None
    return grid, grid_exponent != exponent


def quantize(value: Decimal, step: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round ``value`` to a whole multiple of ``step`` (any positive step, e.g. 0.01 or 5)."""
    fast = _decimal_grid(step, step.as_tuple()[2])
    if fast is not None:  # one C call
        result = value.quantize(fast[0], rounding=rounding, context=CONTEXT)
        return result.quantize(step, context=CONTEXT) if fast[1] else result
    steps = CONTEXT.divide(value, step).to_integral_value(rounding=rounding)
    result = CONTEXT.multiply(steps, step)
    return result.quantize(step, context=CONTEXT) if step.as_tuple().exponent < 0 else result


def round_down(value: Decimal, step: Decimal) -> Decimal:
    return quantize(value, step, ROUND_DOWN)


def fmt(value: Decimal | None) -> str | None:
    """Plain decimal string without exponent (``1E+1`` becomes ``10``); None stays None."""
    if value is None:
        return None
    if value == 0:
        value = value.copy_abs()  # no "-0.00"
    return format(value, "f")
