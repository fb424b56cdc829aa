"""A picture of what the guard did: an SVG line chart (no dependencies) of the demo's run.

Lines: the venue's true position (settled + unsettled real trades), the guard's confirmed and effective position,
its conservative exposure and the limit; marks: blocked buys (red triangles) and phantom fills caught (grey crosses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from html import escape
from pathlib import Path

SERIES = (  # (key, label, colour, dash)
    ("true_position", "venue: true position", "#222222", ""),
    ("confirmed", "guard: confirmed", "#1f77b4", ""),
    ("effective", "guard: effective", "#2ca02c", "4 2"),
    ("conservative", "guard: conservative exposure", "#ff7f0e", ""),
)


@dataclass
class RunRecord:
    """One sample per simulated second, plus the moments of blocks and phantom fills (seconds since the start)."""

    limit: Decimal
    t: list[float] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=lambda: {key: [] for key, *_ in SERIES})
    blocks: list[float] = field(default_factory=list)
    phantoms: list[float] = field(default_factory=list)

    def sample(self, t: float, **values: Decimal) -> None:
        self.t.append(t)
        for key, *_ in SERIES:
            self.values[key].append(float(values[key]))


def write_svg(record: RunRecord, path: Path, title: str, width: int = 900, height: int = 360) -> Path:
    """Write the chart; returns ``path``."""
    left, right, top, bottom = 50, 220, 30, 35
    plot_w, plot_h = width - left - right, height - top - bottom
    t_max = max(record.t[-1] if record.t else 1.0, 1.0)
    lows = [min(v) for v in record.values.values() if v] + [0.0]
    highs = [max(v) for v in record.values.values() if v] + [float(record.limit)]
    y_min, y_max = min(lows), max(highs) * 1.08 or 1.0

    def x(t: float) -> float:
        return left + plot_w * t / t_max

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - y_min) / ((y_max - y_min) or 1.0))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="13">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#bbbbbb"/>',
    ]
    for i in range(5):  # y grid and labels
        v = y_min + (y_max - y_min) * i / 4
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eeeeee"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.0f}</text>')
    for i in range(6):  # x labels (minutes)
        t = t_max * i / 5
        out.append(f'<text x="{x(t):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{t / 60:.0f} min</text>')
    limit_y = y(float(record.limit))
    out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{limit_y:.1f}" y2="{limit_y:.1f}" stroke="#d62728" '
               f'stroke-width="1.5" stroke-dasharray="6 3"/>')
    for key, _label, colour, dash in SERIES:
        points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(record.t, record.values[key], strict=True))
        if points:
            dashing = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.3"{dashing} points="{points}"/>')
    for t in record.blocks:
        px, py = x(t), top + plot_h - 2
        out.append(f'<path d="M{px - 3:.1f},{py:.1f} L{px + 3:.1f},{py:.1f} L{px:.1f},{py - 6:.1f} Z" fill="#d62728"/>')
    for t in record.phantoms:
        px, py = x(t), top + 6
        out.append(f'<path d="M{px - 3:.1f},{py - 3:.1f} L{px + 3:.1f},{py + 3:.1f} M{px - 3:.1f},{py + 3:.1f} '
                   f'L{px + 3:.1f},{py - 3:.1f}" stroke="#7f7f7f" stroke-width="1.5"/>')
    legend = [(label, colour, dash) for _key, label, colour, dash in SERIES]
    legend += [("limit (max_position)", "#d62728", "6 3")]
    lx = left + plot_w + 15
    for i, (label, colour, dash) in enumerate(legend):
        ly = top + 10 + 18 * i
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{lx}" x2="{lx + 22}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2"{dashing}/>')
        out.append(f'<text x="{lx + 28}" y="{ly + 4}">{escape(label)}</text>')
    ly = top + 10 + 18 * len(legend)
    out.append(f'<path d="M{lx + 8},{ly + 3} L{lx + 14},{ly + 3} L{lx + 11},{ly - 3} Z" fill="#d62728"/>')
    out.append(f'<text x="{lx + 28}" y="{ly + 4}">buy blocked ({len(record.blocks)})</text>')
    ly += 18
    out.append(f'<path d="M{lx + 8},{ly - 3} L{lx + 14},{ly + 3} M{lx + 8},{ly + 3} L{lx + 14},{ly - 3}" '
               f'stroke="#7f7f7f" stroke-width="1.5"/>')
    out.append(f'<text x="{lx + 28}" y="{ly + 4}">phantom fill caught ({len(record.phantoms)})</text>')
    out.append("</svg>")
    path = Path(path)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
