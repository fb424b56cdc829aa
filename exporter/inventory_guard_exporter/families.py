"""Turn journal snapshots into metric families: the one place that maps tables to series.

A ``Family`` holds samples as ``(sample_name, labels, extra, value)`` where ``labels`` are the per-market
``bot/connector/market`` labels (escaped once per market, not once per sample) and ``extra`` is a tuple of
additional ``(name, value)`` label pairs such as ``(("side", "buy"),)``. Both renderers (the fast text renderer
and prometheus_client's OpenMetrics one) consume these families, so they always serve the same samples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal

from inventory_guard_exporter.catalogue import COUNTERS, GAUGES, HISTOGRAMS, PREFIX
from inventory_guard_exporter.reader import COL, BotState


def escape_label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class Labels:
    """The labels every sample of one series set shares, pre-rendered for the text format."""

    __slots__ = ("pairs", "text")

    def __init__(self, pairs: dict[str, str]):
        self.pairs = pairs  # sorted by label name
        self.text = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs.items())


# (sample name, labels, extra label pairs, value); labels None: the exporter's own unlabelled scrape duration
Sample = tuple[str, Labels | None, tuple[tuple[str, str], ...], float | int]


@dataclass(slots=True)
class Family:
    name: str  # counters without "_total"
    kind: str  # "gauge" | "counter" | "histogram"
    help: str
    samples: list[Sample] = field(default_factory=list)


NO_EXTRA: tuple = ()


def bot_samples(state: BotState) -> dict[str, list]:
    """Samples of one bot, keyed by family name. Pure: raises ValueError/TypeError on malformed stored values."""
    out: dict[str, list] = {}
    bot = state.bot
    labels_of = {row[0]: Labels({"bot": bot, "connector": row[1], "market": row[0]}) for row in state.markets}
    series = [(row, labels_of[row[0]]) for row in state.markets]

    for spec in GAUGES:
        name = PREFIX + spec.name
        if not spec.column:  # effective_minus_confirmed, exact in Decimal, converted once
            ie, ic = COL["effective"], COL["confirmed"]
            out[name] = [(name, lab, NO_EXTRA, float(Decimal(row[ie]) - Decimal(row[ic]))) for row, lab in series]
            continue
        i = COL[spec.column]
        if spec.decimal:
            out[name] = [(name, lab, NO_EXTRA, float(row[i])) for row, lab in series if row[i] is not None]
        else:
            out[name] = [(name, lab, NO_EXTRA, row[i]) for row, lab in series if row[i] is not None]

    _add_counters(out, state, labels_of)
    _add_histograms(out, state, labels_of)
    return out


def _add_counters(out: dict[str, list], state: BotState, labels_of: dict[str, Labels]) -> None:
    parsed: dict[str, tuple[tuple[str, str], ...]] = {}  # labels JSON -> sorted pairs (few distinct strings)
    stored: dict[str, dict[tuple[str, tuple], int]] = {}
    for market, name, labels_json, value in state.counters:
        extra = parsed.get(labels_json)
        if extra is None:
            extra = parsed[labels_json] = tuple(sorted(json.loads(labels_json).items()))
        stored.setdefault(name, {})[(market, extra)] = value

    for spec in COUNTERS:
        sample = PREFIX + spec.name + "_total"
        values = stored.get(spec.name, {})
        zero_extras = [tuple(sorted(z.items())) for z in spec.zero_series]
        samples = []
        for market, lab in labels_of.items():
            for extra in zero_extras:  # known label sets start at 0 so rate() sees the first increment
                samples.append((sample, lab, extra, values.pop((market, extra), 0)))
        for (market, extra), value in sorted(values.items()):
            known = labels_of.get(market)
            if known is not None:  # counters exist only for markets with a state row (same transaction)
                samples.append((sample, known, extra, value))
        out[PREFIX + spec.name] = samples


def _add_histograms(out: dict[str, list], state: BotState, labels_of: dict[str, Labels]) -> None:
    parsed: dict[str, list[tuple[tuple[tuple[str, str], ...], int]]] = {}
    for name in HISTOGRAMS:
        out[PREFIX + name] = []
    for market, name, buckets_json, total, count in state.histograms:
        lab = labels_of.get(market)
        if name not in HISTOGRAMS or lab is None:
            continue
        buckets = parsed.get(buckets_json)
        if buckets is None:
            buckets = parsed[buckets_json] = [((("le", _le(le)),), n) for le, n in json.loads(buckets_json)]
        fam = PREFIX + name
        samples = out[fam]
        bucket_name = fam + "_bucket"
        for extra, n in buckets:
            samples.append((bucket_name, lab, extra, n))
        samples.append((fam + "_count", lab, NO_EXTRA, count))
        samples.append((fam + "_sum", lab, NO_EXTRA, float(total)))


def _le(bound: str) -> str:
    """Bucket bound as Prometheus writes it ("0.25", "1.0", "+Inf")."""
    value = float(bound)
    return "+Inf" if value == float("inf") else repr(value)


def assemble(per_bot: list[dict[str, list]]) -> list[Family]:
    """Merge bots' samples into one family per metric (a family must appear once in an exposition)."""
    families = []
    for spec in GAUGES:
        families.append(_merge(Family(PREFIX + spec.name, "gauge", spec.help), per_bot))
    for counter in COUNTERS:
        families.append(_merge(Family(PREFIX + counter.name, "counter", counter.help), per_bot))
    for name, help_text in HISTOGRAMS.items():
        families.append(_merge(Family(PREFIX + name, "histogram", help_text), per_bot))
    return families


def _merge(family: Family, per_bot: list[dict[str, list]]) -> Family:
    for samples in per_bot:
        family.samples.extend(samples.get(family.name, ()))
    return family
