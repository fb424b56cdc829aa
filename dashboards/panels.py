"""Panel factories with the house style: datasource from the ``$datasource`` variable, legends shown, sizes on a
24-column grid. Each factory returns a foundation-sdk builder the dashboards refine further."""

from grafana_foundation_sdk.builders import (
    common as common_builder,
    dashboard,
    heatmap,
    prometheus,
    stat,
    table,
    timeseries,
)
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common, heatmap as heatmap_models, prometheus as prom_models
from grafana_foundation_sdk.models.dashboard import DataSourceRef, Panel, Threshold, ThresholdsMode

# What every panel factory returns, whatever its visualization (what a dashboard or row takes).
PanelBuilder = cogbuilder.Builder[Panel]

# Panels point at the dashboard's datasource variable, so the JSON imports into any Grafana with any datasource name.
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")


def _dataquery(expr: str, ref_id: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().datasource(DATASOURCE).expr(expr).ref_id(ref_id)


def query(expr: str, legend: str, ref_id: str = "A") -> prometheus.Dataquery:
    """A range query for a graph; ``legend`` is Grafana's legendFormat (``{{label}}`` placeholders)."""
    return _dataquery(expr, ref_id).legend_format(legend).range()


def instant_table_query(expr: str, ref_id: str) -> prometheus.Dataquery:
    """An instant query returning one table row per series (for table panels)."""
    return _dataquery(expr, ref_id).instant().format(prom_models.PromQueryFormat.TABLE).legend_format("__auto")


def heatmap_query(expr: str, ref_id: str = "A") -> prometheus.Dataquery:
    """A histogram-bucket query in Grafana's heatmap format (one series per ``le``)."""
    return _dataquery(expr, ref_id).range().format(prom_models.PromQueryFormat.HEATMAP).legend_format("{{le}}")


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(value=v, color=c) for v, c in steps]
    )


def _legend() -> common_builder.VizLegendOptions:
    return (
        common_builder.VizLegendOptions()
        .show_legend(True)
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.BOTTOM)
        .calcs(["lastNotNull", "max"])
    )


def _placed(panel, title: str, description: str, width: int, height: int):
    """``panel`` with what every panel here has: title, description, the dashboard's datasource, size on the grid."""
    return panel.title(title).description(description).datasource(DATASOURCE).span(width).height(height)


def graph(title: str, description: str, unit: str, width: int, height: int = 8) -> timeseries.Panel:
    """A line graph (timeseries panel) with a table legend showing last and max values."""
    return (
        _placed(timeseries.Panel(), title, description, width, height)
        .unit(unit)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(_legend())
        .tooltip(
            common_builder.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING)
        )
    )


def bars(title: str, description: str, unit: str, width: int, height: int = 8) -> timeseries.Panel:
    """A stacked bar graph, for event counts per interval."""
    return (
        graph(title, description, unit, width, height)
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(common_builder.StackingConfig().mode(common.StackingMode.NORMAL))
    )


def single_stat(title: str, description: str, unit: str, width: int, height: int = 4) -> stat.Panel:
    return (
        _placed(stat.Panel(), title, description, width, height)
        .unit(unit)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
    )


def latency_heatmap(title: str, description: str, width: int, height: int = 8) -> heatmap.Panel:
    """A heatmap of pre-bucketed Prometheus histogram data (Grafana must not re-bucket it)."""
    return (
        _placed(heatmap.Panel(), title, description, width, height)
        .calculate(False)
        .color(heatmap.HeatmapColorOptions().mode(heatmap_models.HeatmapColorMode.SCHEME).scheme("Oranges").steps(64))
        .y_axis(heatmap.YAxisConfig().unit("s"))
        .show_legend()
        .tooltip(heatmap.HeatmapTooltip().mode(common.TooltipDisplayMode.SINGLE).y_histogram(True))
    )


def data_table(title: str, description: str, width: int, height: int = 8) -> table.Panel:
    return _placed(table.Panel(), title, description, width, height)
