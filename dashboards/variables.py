"""Template variables shared by both dashboards: the datasource, then ``bot`` -> ``connector`` -> ``market``, each
narrowing the next, all multi-value with an "All" option."""

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.dashboard import VariableOption, VariableRefresh, VariableSort

from dashboards.panels import DATASOURCE

# The series every market exports from its first state write on; the variables list its label values.
_SOURCE_SERIES = "inventory_guard_effective_position"


def datasource() -> dashboard.DatasourceVariable:
    """Chosen when importing or viewing: the JSON names no datasource uid of any particular Grafana."""
    return dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")


def _label_variable(name: str, label: str, selector: str) -> dashboard.QueryVariable:
    series = f"{_SOURCE_SERIES}{{{selector}}}" if selector else _SOURCE_SERIES
    query = f"label_values({series}, {name})"
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .definition(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def bot() -> dashboard.QueryVariable:
    return _label_variable("bot", "Bot", "")


def connector() -> dashboard.QueryVariable:
    return _label_variable("connector", "Connector", 'bot=~"$bot"')


def market() -> dashboard.QueryVariable:
    return _label_variable("market", "Market", 'bot=~"$bot", connector=~"$connector"')


def all_variables() -> list:
    return [datasource(), bot(), connector(), market()]
