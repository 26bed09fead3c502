"""The report's charts as inline SVG: lean (one path per series, integer coordinates), coloured
by CSS classes (so both themes apply), each with a text alternative naming its key numbers.

Every function takes figures, never stored text: the only text in a chart is numbers and the
``title`` it is given, which the caller has escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .data import KINDS, Kind, Point
from .text import seconds, span

#: Words for each kind of visit, and the glyph the page's legends use for its marker.
KIND_NAMES: dict[Kind, str] = {
    "ok": "ok", "status": "error status", "failure": "failed", "timeout": "timed out",
}
KIND_GLYPHS: dict[Kind, str] = {"ok": "\u25cf", "status": "\u25b2", "failure": "\u2715", "timeout": "\u25a1"}


@dataclass(frozen=True)
class Frame:
    """A chart's size in its own units (it scales to the page) and its plot area's margins."""

    width: int
    height: int
    left: int = 52
    right: int = 12
    top: int = 10
    bottom: int = 22

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_bottom(self) -> int:
        return self.height - self.bottom

    def x(self, value: float, low: float, high: float) -> int:
        """``value`` of the range ``low``-``high`` across the plot (a single value: its middle)."""
        share = 0.5 if high <= low else (value - low) / (high - low)
        return round(self.left + share * self.plot_width)

    def y(self, value: float, top: float) -> int:
        """``value`` of 0-``top`` up the plot (clamped to it)."""
        share = min(max(value, 0.0), top) / top
        return round(self.top + (1 - share) * (self.plot_bottom - self.top))

    def open(self, chart_id: str, title: str) -> str:
        return (f'<svg class="chart" viewBox="0 0 {self.width} {self.height}" role="img" '
                f'aria-labelledby="{chart_id}"><title id="{chart_id}">{title}</title>')

    def y_axis(self, label: str, middle: str) -> str:
        """Grid lines at the top, middle and bottom of the plot, labelled."""
        top, bottom, right = self.top, self.plot_bottom, self.width - self.right
        mid = (top + bottom) // 2
        grid = "".join(f"M{self.left} {y}H{right}" for y in (top, mid, bottom))
        grid = f'<path class="grid" d="{grid}"/>'
        x = self.left - 5
        return grid + "".join(f'<text class="ax" x="{x}" y="{y + 4}" text-anchor="end">{text}</text>'
                              for y, text in ((top, label), (mid, middle), (bottom, "0")))

    def x_labels(self, first: str, last: str) -> str:
        y = self.height - 6
        return (f'<text class="ax" x="{self.left}" y="{y}">{first}</text>'
                f'<text class="ax" x="{self.width - self.right}" y="{y}" text-anchor="end">{last}</text>')


#: The scatter spans the section; the histogram and the rate share a row.
WIDE, NARROW = Frame(900, 200), Frame(450, 180)
HISTOGRAM = Frame(450, 180, top=30)


def nice_ceiling(value: float) -> float:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 x 10^k) at least ``value``,
    so that a chart's top is near its highest value (1 for nothing)."""
    if not value > 0:
        return 1.0
    power = math.pow(10.0, math.floor(math.log10(value)))
    return next((step * power for step in _STEPS if step * power >= value * (1 - 1e-9)), 10.0 * power)


_STEPS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)


def _marker(kind: Kind, x: int, y: int) -> str:
    """A visit's marker as path data: a dot (ok), a triangle (error status), a cross (failed),
    a hollow square (timed out)."""
    if kind == "ok":
        return f"M{x} {y}h0"
    if kind == "status":
        return f"M{x} {y - 4}l4 7h-8z"
    if kind == "failure":
        return f"M{x - 3} {y - 3}l6 6m0-6l-6 6"
    return f"M{x - 3} {y - 3}h6v6h-6z"


def scatter(chart_id: str, title: str, points: Sequence[Point], frame: Frame = WIDE) -> str:
    """Load time (y) over time (x) of ``points``, one marker shape and colour per kind."""
    if not points:
        return ""
    t0, t1 = points[0].at, points[-1].at
    top = nice_ceiling(max(p.duration for p in points))
    series = []
    for kind in KINDS:
        d = "".join(_marker(kind, frame.x(p.at, t0, t1), frame.y(p.duration, top))
                    for p in points if p.kind == kind)
        if d:
            series.append(f'<path class="k-{kind}" d="{d}"/>')
    return (frame.open(chart_id, title) + frame.y_axis(seconds(top), seconds(top / 2))
            + frame.x_labels(*span(t0, t1)) + "".join(series) + "</svg>")


def histogram(chart_id: str, title: str, values: Sequence[float], marks: Sequence[tuple[str, float]],
              bins: int = 20, frame: Frame = HISTOGRAM) -> str:
    """How ``values`` (seconds) are distributed, in ``bins`` bars from 0, with a labelled
    dashed line at each of ``marks`` (name, seconds), the labels above the bars."""
    if not values:
        return ""
    top = nice_ceiling(max(values))
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int(v / top * bins))] += 1
    highest = max(counts)
    width = frame.plot_width / bins
    bars = "".join(
        f"M{round(frame.left + i * width) + 1} {frame.plot_bottom}V{frame.y(c, highest)}"
        f"h{max(1, round(width) - 2)}V{frame.plot_bottom}z"
        for i, c in enumerate(counts) if c
    )
    lines, labels = [], []
    for n, (name, value) in enumerate(marks):
        x = frame.x(min(value, top), 0.0, top)
        lines.append(f"M{x} {frame.top - 4}V{frame.plot_bottom}")
        # Each label on its own row, on the side of its line with room for it.
        end = x > frame.left + frame.plot_width / 2
        labels.append(f'<text class="mk" x="{x - 3 if end else x + 3}" y="{11 + 12 * (n % 2)}" '
                      f'text-anchor="{"end" if end else "start"}">{name} {seconds(value)}</text>')
    return (frame.open(chart_id, title) + frame.y_axis(str(highest), f"{highest / 2:g}")
            + frame.x_labels("0", seconds(top)) + f'<path class="bar" d="{bars}"/>'
            + f'<path class="mark" d="{"".join(lines)}"/>' + "".join(labels) + "</svg>")


def rolling(chart_id: str, title: str, series: Sequence[tuple[float, float]], frame: Frame = NARROW) -> str:
    """A rate in [0, 1] (y) over time (x), as a line."""
    if not series:
        return ""
    t0, t1 = series[0][0], series[-1][0]
    pts = " ".join(f"{frame.x(t, t0, t1)},{frame.y(rate, 1.0)}" for t, rate in series)
    return (frame.open(chart_id, title) + frame.y_axis("100%", "50%")
            + frame.x_labels(*span(t0, t1)) + f'<polyline class="line" points="{pts}"/></svg>')


def sparkline(values: Sequence[float], width: int = 120, height: int = 24) -> str:
    """A small line of ``values`` (seconds, oldest first) for a table cell, labelled with its
    range and latest value."""
    if not values:
        return '<span class="none">no loads</span>'
    top = max(values) or 1.0
    n = len(values)
    xy = [(round(2 + (i / (n - 1) if n > 1 else 1.0) * (width - 4)), round(2 + (1 - v / top) * (height - 4)))
          for i, v in enumerate(values)]
    pts = " ".join(f"{x},{y}" for x, y in xy)
    label = (f"last {n} load times: {seconds(min(values))} to {seconds(max(values))}, "
             f"latest {seconds(values[-1])}")
    return (f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{label}"><polyline class="line" points="{pts}"/>'
            f'<path class="end" d="M{xy[-1][0]} {xy[-1][1]}h0"/></svg>')  # the latest: a dot
