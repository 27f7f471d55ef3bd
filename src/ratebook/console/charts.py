"""Bar charts drawn as SVG on the server: no script, nothing to fetch, readable without
colour (each bar carries its value as a title, and the chart a text alternative)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its box in the chart's units, its label and its value as text."""

    x: int
    y: int
    width: int
    height: int
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class BarChart:
    """A bar chart's geometry: ``width`` × ``height`` units, bars from the baseline at
    ``base``, the largest value's text at the top of the axis."""

    width: int
    height: int
    base: int
    bars: list[Bar]
    top: str
    title: str

    @property
    def empty(self) -> bool:
        """Whether every bar is zero."""
        return all(b.height == 0 for b in self.bars)


def bar_chart(
    values: list[int],
    labels: list[str],
    texts: list[str],
    *,
    title: str,
    width: int = 720,
    height: int = 140,
) -> BarChart:
    """Bars for ``values`` (non-negative integers; a negative one draws as zero), scaled so
    the largest fills the height; heights are whole units, rounded down, but a non-zero value
    is at least one unit tall."""
    base = height
    slot = width // max(len(values), 1)
    gap = 1 if slot > 3 else 0
    largest = max([v for v in values if v > 0], default=0)
    bars = []
    for i, (value, label, text) in enumerate(zip(values, labels, texts, strict=True)):
        tall = 0 if largest == 0 or value <= 0 else max(1, value * height // largest)
        bars.append(Bar(i * slot, base - tall, slot - gap, tall, label, text))
    top = texts[values.index(largest)] if largest else "0"
    return BarChart(width, height, base, bars, top, title)
