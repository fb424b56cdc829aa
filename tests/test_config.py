"""Configuration: sane defaults, per-market overrides, errors that name the bad key."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal as D

import pytest

from inventory_guard.config import (
    PER_MARKET_KEYS,
    ConfigError,
    GuardConfig,
    MarketConfig,
    MarketOverrides,
    UnknownMarket,
    load_config,
    parse_config,
)
from inventory_guard.config_doc import type_text


def test_defaults():
    market = parse_config({"max_position": "10"}).market("any")
    assert (market.size_increment, market.min_order_size, market.pending_fill_max_age_s) == (D("0.01"), D(0), D(30))
    assert (market.force_reconcile_error_gap, market.snapshot_max_age_s) == (D(5), None)


def test_per_market_overrides_fall_back_to_the_defaults():
    config = parse_config({"max_position": "10", "pending_fill_max_age_s": 45,
                           "markets": {"BTC-USDT": {"max_position": "0.5", "size_increment": "0.0001"}}})
    btc = config.market("BTC-USDT")
    assert (btc.max_position, btc.size_increment, btc.pending_fill_max_age_s) == (D("0.5"), D("0.0001"), D(45))
    assert config.market("ETH-USDT").max_position == D(10)


def test_floats_in_yaml_become_exact_decimals(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("max_position: 0.1\nsize_increment: 0.001\n")
    assert load_config(path).market("m").max_position == D("0.1")


@pytest.mark.parametrize("data, key", [
    ({}, "max_position"),
    ({"max_position": "abc"}, "max_position"),
    ({"max_position": "NaN"}, "max_position"),
    ({"max_position": "-1"}, "max_position"),
    ({"max_position": "1", "size_increment": "0"}, "size_increment"),
    ({"max_position": "1", "pending_fill_max_age_s": -3}, "pending_fill_max_age_s"),
    ({"max_position": "1", "markets": {"X": {"max_position": "inf"}}}, "markets.X.max_position"),
    ({"max_position": "1", "markets": {"X": {"max_positon": "1"}}}, "markets.X.max_positon"),
    ({"markets": {"X": {"size_increment": "1"}}}, "markets.X.max_position"),
    ({"max_position": "1", "seen_fill_keys_max": 0}, "seen_fill_keys_max"),
])
def test_a_bad_config_names_the_bad_key(data, key):
    with pytest.raises(ConfigError) as exc:
        parse_config(data, "guard.yaml")
    assert f"guard.yaml: {key}" in str(exc.value)


def test_an_unknown_market_needs_a_default_limit():
    config = parse_config({"markets": {"A": {"max_position": "1"}}})
    with pytest.raises(UnknownMarket, match="unknown market 'B'"):
        config.market("B")


def test_unreadable_or_invalid_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_position: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listy)


def test_market_overrides_and_market_config_have_every_per_market_key():
    """MarketOverrides and MarketConfig spell out the per-market keys of GuardConfig: the same keys, in order,
    and an override accepts what the top-level key accepts (or null)."""
    assert tuple(MarketOverrides.model_fields) == PER_MARKET_KEYS
    assert tuple(f.name for f in fields(MarketConfig)) == ("name", *PER_MARKET_KEYS)
    for key in PER_MARKET_KEYS:
        top, override = GuardConfig.model_fields[key], MarketOverrides.model_fields[key]
        assert type_text(override) == type_text(top).removesuffix(" or `null`") + " or `null`", key
        assert override.description == top.description, key
