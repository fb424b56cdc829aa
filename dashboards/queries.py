"""PromQL building blocks shared by the dashboards: metric names and the template-variable selector."""

PREFIX = "inventory_guard_"

# Every panel query filters on the three template variables; Grafana substitutes them before the query runs.
SELECTOR = 'bot=~"$bot", connector=~"$connector", market=~"$market"'
# Exporter-level series carry only the bot label.
BOT_SELECTOR = 'bot=~"$bot"'

# Label sets used in `sum by (...)`: one series per market, optionally split further.
MARKET_LABELS = ("bot", "connector", "market")


def metric(name: str, selector: str = SELECTOR) -> str:
    """``inventory_guard_<name>{<selector>}``."""
    return f"{PREFIX}{name}{{{selector}}}"


def by(*labels: str) -> str:
    return ", ".join(labels)


def increase_by(counter: str, labels: tuple[str, ...]) -> str:
    """Increase of ``counter`` per ``$__rate_interval``, summed by ``labels`` (counts, not rates, for bar charts)."""
    return f"sum by ({by(*labels)}) (increase({metric(counter)}[$__rate_interval]))"


def market_legend(suffix: str = "") -> str:
    """Legend naming one market: ``bot/connector/market`` plus an optional suffix."""
    return "{{bot}}/{{connector}}/{{market}}" + (f" {suffix}" if suffix else "")
