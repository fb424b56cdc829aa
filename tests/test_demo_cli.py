"""The demo's command line: one parser behind every entry point, the README's defaults, no Hummingbot to build it."""

from __future__ import annotations

import argparse
import subprocess
import sys
from decimal import Decimal

import pytest

from inventory_guard.cli import build_parser
from inventory_guard.hummingbot.demo.cli import add_arguments

README_DEFAULTS = {"trace": False, "duration": 60.0, "speed": 10.0, "seed": 7, "metrics_port": 0,
                   "no_metrics": False, "no_live": False, "journal": None, "max_position": Decimal("100"),
                   "order_amount": Decimal("20")}


def _module_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m inventory_guard.hummingbot.demo``."""
    return add_arguments(argparse.ArgumentParser())


def test_inventory_guard_demo_and_the_demo_module_take_the_same_options_with_the_readme_defaults():
    subcommand = vars(build_parser().parse_args(["demo"]))
    subcommand.pop("command"), subcommand.pop("func")
    assert subcommand == vars(_module_parser().parse_args([])) == README_DEFAULTS
    given = ["--duration", "5", "--speed", "30", "--seed", "3", "--metrics-port", "9100", "--no-metrics",
             "--no-live", "--journal", "j.sqlite", "--max-position", "50", "--order-amount", "7.5", "--trace"]
    parsed = vars(build_parser().parse_args(["demo", *given]))
    parsed.pop("command"), parsed.pop("func")
    assert parsed == vars(_module_parser().parse_args(given)) == {
        "trace": True, "duration": 5.0, "speed": 30.0, "seed": 3, "metrics_port": 9100, "no_metrics": True,
        "no_live": True, "journal": "j.sqlite", "max_position": Decimal("50"), "order_amount": Decimal("7.5")}


@pytest.mark.parametrize("option, value", [("--duration", "0"), ("--speed", "-1"), ("--max-position", "NaN"),
                                           ("--order-amount", "abc")])
def test_a_value_that_is_not_a_positive_number_is_refused_naming_its_option(capsys, option, value):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["demo", option, value])
    assert exc.value.code == 2
    assert f"argument {option}: must be a positive number, not {value!r}" in capsys.readouterr().err


def test_the_cli_and_the_trace_demo_import_no_hummingbot():
    code = ("import sys; from inventory_guard.cli import main; rc = main(['demo', '--trace']); "
            "print('hummingbot loaded' if 'hummingbot' in sys.modules else 'no hummingbot', rc, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().endswith("no hummingbot 0"), proc.stderr
    assert "the bundled example trace replayed through the guard" in proc.stdout, proc.stdout
