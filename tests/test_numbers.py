"""Numbers enter as exact Decimals and are quantized to the market's size step — never float arithmetic."""

from decimal import Decimal as D

import pytest

from inventory_guard.numbers import InvalidNumber, fmt, quantize, round_down, to_decimal


@pytest.mark.parametrize("value, step, expected", [
    ("10.005", "0.01", "10.00"), ("10.015", "0.01", "10.02"), ("10", "0.01", "10.00"), ("12.3", "1", "12"),
    ("1250", "100", "1200"), ("1350", "100", "1400"), ("10.26", "0.5", "10.5"), ("12.34", "1.0", "12.0"),
    ("-2.5", "1", "-2"), ("0", "0.001", "0.000"), ("7", "5", "5"),
])
def test_quantize_rounds_half_even_to_any_step(value, step, expected):
    assert fmt(quantize(D(value), D(step))) == expected


@pytest.mark.parametrize("value, step, expected", [("9.999", "0.01", "9.99"), ("14", "5", "10"), ("0.5", "1", "0")])
def test_round_down(value, step, expected):
    assert fmt(round_down(D(value), D(step))) == expected


def test_floats_enter_through_their_shortest_repr():
    assert to_decimal(0.1, "x") == D("0.1")


@pytest.mark.parametrize("bad", ["NaN", "nan", "Infinity", "-inf", "sNaN", "1e16", "abc", "", True, None, [1]])
def test_non_numbers_are_rejected(bad):
    with pytest.raises(InvalidNumber):
        to_decimal(bad, "size")


def test_fmt_never_prints_an_exponent_or_negative_zero():
    assert fmt(D("1E+1")) == "10" and fmt(D("-0.00")) == "0.00" and fmt(None) is None
