"""Grafana's template-variable interpolation for Prometheus queries, reproduced for the tests.

Grafana replaces ``$name``, ``${name}``, ``${name:format}`` and ``[[name]]`` before sending a query. For a
multi-value variable used in a regex matcher (``=~"$bot"``) the Prometheus datasource regex-escapes each value and
joins them as ``(a|b)``; "All" without a custom allValue means every value the variable's query returned. Escaping
follows Grafana's ``prometheusRegularEscape``/``prometheusSpecialRegexEscape``: regex metacharacters get a backslash,
itself doubled inside the PromQL string literal. Python's ``re.escape`` is not usable here: it also escapes ``-``,
which Prometheus's RE2 rejects as ``\\-`` outside a character class.
"""

from __future__ import annotations

import re

VARIABLE = re.compile(r"\$\{([\w.]+)(?::[\w]+)?\}|\$([A-Za-z_]\w*)|\[\[([\w.]+)\]\]")
_REGEX_META = re.compile(r"([\\^$*+?.()|\[\]{}])")

# Values Grafana gives its interval built-ins; the e2e stack scrapes every second.
DEFAULT_BUILTINS = {
    "__interval": "1s",
    "__interval_ms": "1000",
    "__rate_interval": "1m",
    "__rate_interval_ms": "60000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}


def variable_names(text: str) -> list[str]:
    return [next(filter(None, m.groups())) for m in VARIABLE.finditer(text or "")]


def regex_escape(value: str) -> str:
    """Escape one value as Grafana does for a Prometheus regex matcher inside a double-quoted string."""
    return _REGEX_META.sub(r"\\\\\1", value)


def multi_value(values: list[str]) -> str:
    """A selection of several values (or All) as Grafana renders it in ``=~"..."``."""
    escaped = [regex_escape(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def interpolate(text: str, values: dict[str, str], builtins: dict[str, str] = DEFAULT_BUILTINS) -> str:
    """Replace every known variable in ``text``; unknown ones are left as they are (the lint reports those)."""

    def replace(match: re.Match) -> str:
        name = next(filter(None, match.groups()))
        if name in values:
            return values[name]
        return builtins.get(name, match.group(0))

    return VARIABLE.sub(replace, text)
