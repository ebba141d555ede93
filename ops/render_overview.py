"""Render the overview dashboard's key panels from a Prometheus to a PNG (no Grafana needed).

    python -m ops.render_overview --prometheus http://127.0.0.1:9090 --minutes 15 --out overview.png

The panels and their queries are read from dashboards/fast-channels-overview.json, so the picture
shows exactly what the dashboard shows: template variables become "all" (`.*`), Grafana's
`$__rate_interval` becomes --rate-interval, and each query runs as a `query_range` over the last
--minutes. Threshold lines (the alert thresholds) are drawn as in Grafana.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
OVERVIEW = ROOT / "dashboards" / "fast-channels-overview.json"

# The overview's key panels, by title, in the order they are drawn (3 columns).
KEY_PANELS = (
    "Open sockets per pod",
    "WebSocket frames in / out",
    "Layer messages sent / delivered",
    "Fan-out latency (group_send → handler)",
    "group_send fan-out size",
    "Backlog per pod (local buffer, Redis)",
    "Dropped messages by reason",
    "Refused: channel full",
    "Redis errors",
)
# Grafana unit ids of those panels → (axis label, scale applied to values).
UNITS: dict[str, tuple[str, float]] = {
    "short": ("", 1.0),
    "ops": ("per second", 1.0),
    "s": ("milliseconds", 1000.0),
    "bytes": ("bytes", 1.0),
    "percentunit": ("percent", 100.0),
}


@dataclass
class Series:
    legend: str
    times: list[float]
    values: list[float]


@dataclass
class Panel:
    title: str
    unit: str
    queries: list[tuple[str, str]]  # (expr, legendFormat)
    thresholds: list[float] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)


def substitute(expr: str, rate_interval: str, layer: str = ".*") -> str:
    """The dashboard's variables: all namespaces, pods and consumers; `layer` a regex."""
    expr = expr.replace("$__rate_interval", rate_interval).replace("$__interval", rate_interval)
    expr = re.sub(r"\$\{?layer\}?", layer, expr)
    expr = re.sub(r"\$\{?(namespace|pod|consumer)\}?", ".*", expr)
    if "$" in expr:
        raise ValueError(f"unsubstituted variable in {expr!r}")
    return expr


def key_panels(board_file: Path = OVERVIEW) -> list[Panel]:
    board: dict[str, Any] = json.loads(board_file.read_text())
    by_title = {panel["title"]: panel for panel in board["panels"] if panel["type"] != "row"}
    missing = [title for title in KEY_PANELS if title not in by_title]
    if missing:
        raise ValueError(f"{board_file.name} has no panel titled {missing}")
    panels = []
    for title in KEY_PANELS:
        raw = by_title[title]
        defaults = raw["fieldConfig"]["defaults"]
        steps = defaults.get("thresholds", {}).get("steps", [])
        panels.append(
            Panel(
                title=title,
                unit=defaults["unit"],
                queries=[(t["expr"], t.get("legendFormat", "")) for t in raw["targets"]],
                thresholds=[s["value"] for s in steps if s["value"] is not None],
            )
        )
    return panels


def legend(template: str, labels: dict[str, str]) -> str:
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)
    return " ".join(text.split()) or json.dumps(labels, sort_keys=True)


def query_range(
    client: httpx.Client, expr: str, start: float, end: float, step: float
) -> list[dict[str, Any]]:
    response = client.get(
        "/api/v1/query_range", params={"query": expr, "start": start, "end": end, "step": step}
    )
    body: dict[str, Any] = response.json()
    if body.get("status") != "success":
        raise RuntimeError(f"query_range failed for {expr!r}: {body.get('error', body)}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def fetch(
    prometheus: str,
    panels: list[Panel],
    *,
    minutes: float,
    rate_interval: str,
    layer: str = ".*",
    end: float | None = None,
) -> None:
    end = time.time() if end is None else end
    start = end - minutes * 60
    step = max(1.0, minutes * 60 / 240)  # ~240 points per line, not finer than 1 s
    with httpx.Client(base_url=prometheus.rstrip("/"), timeout=10) as client:
        for panel in panels:
            for expr, template in panel.queries:
                for item in query_range(
                    client, substitute(expr, rate_interval, layer), start, end, step
                ):
                    points = [(float(t), float(v)) for t, v in item["values"]]
                    panel.series.append(
                        Series(
                            legend=legend(template, item["metric"]),
                            times=[t - end for t, _ in points],
                            values=[v for _, v in points],
                        )
                    )


def _mark_events(ax: Any, times: Sequence[float], span: float, *, numbered: bool) -> None:
    """A dotted line per event; on the top row, its number, stepped down when events are so
    close in time that the numbers would touch."""
    close = span / 40  # about a number's width on a 15-inch-wide, 3-column figure
    last, step = -math.inf, 0
    for number, at in enumerate(times, 1):
        ax.axvline(at, color="grey", linestyle=":", linewidth=0.9)
        if not numbered:
            continue
        step = step + 1 if at - last < close else 0
        last = at
        ax.annotate(str(number), (at, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(2, -2 - 8 * step), textcoords="offset points", fontsize=7,
                    va="top", color="dimgrey")  # fmt: skip


def render(
    panels: list[Panel],
    out: Path,
    *,
    title: str,
    minutes: float,
    events: Sequence[tuple[float, str]] = (),
) -> None:
    """A grid of line charts; `events` are (seconds before the end, label) drawn as markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Short ranges read better in seconds.
    unit, per = ("seconds", 1.0) if minutes <= 3 else ("minutes", 60.0)
    columns = 3
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(15, 3.4 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        label, scale = UNITS.get(panel.unit, (panel.unit, 1.0))
        for series in panel.series:
            values = [v * scale if math.isfinite(v) else math.nan for v in series.values]
            # A short-lived series (a brief outage) would be an invisible line: mark its points.
            marker = "." if sum(map(math.isfinite, values)) < 6 else None
            times = [t / per for t in series.times]
            ax.plot(times, values, linewidth=1.2, marker=marker, label=series.legend)
        for threshold in panel.thresholds:
            ax.axhline(threshold * scale, color="red", linestyle="--", linewidth=0.9)
        times = [at / per for at, _ in events]
        _mark_events(ax, times, minutes * 60 / per, numbered=ax in axes[0])
        ax.set_title(panel.title, fontsize=10)
        ax.set_ylabel(label, fontsize=8)
        ax.set_xlim(-minutes * 60 / per, 0)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if panel.series:
            ax.legend(fontsize=6, loc="upper left", ncol=1 if len(panel.series) < 5 else 2)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(f"{unit} before now", fontsize=8)
    figure.suptitle(title, fontsize=13)
    figure.tight_layout()
    if events:
        # Events close in time would overlap as labels on the chart: the chart carries their
        # numbers, this line what they mean.
        key = "    ".join(f"{n}: {text}" for n, (_, text) in enumerate(events, 1))
        figure.subplots_adjust(top=figure.subplotpars.top - 0.02)
        figure.text(0.5, figure.subplotpars.top + 0.035, f"events  {key}", ha="center",
                    fontsize=8, color="dimgrey")  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=80)
    plt.close(figure)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ops.render_overview", description=__doc__)
    p.add_argument("--prometheus", required=True, help="base URL, e.g. http://127.0.0.1:9090")
    p.add_argument("--minutes", type=float, default=15.0, help="time range (default 15)")
    p.add_argument(
        "--rate-interval", default="1m",
        help="what $__rate_interval becomes (default 1m; at least 4 scrape intervals)",
    )  # fmt: skip
    p.add_argument("--layer", default=".*", help="the layer variable, a regex (default all)")
    p.add_argument(
        "--event", action="append", default=[], metavar="UNIXTIME=LABEL",
        help="mark a moment on every chart (repeatable)",
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("overview.png"), help="PNG to write")
    p.add_argument("--title", default="fast_channels overview", help="figure title")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    panels = key_panels()
    end = time.time()
    events = []
    for event in args.event:
        at, _, label = event.partition("=")
        events.append((float(at) - end, label))
    try:
        fetch(
            args.prometheus, panels, minutes=args.minutes, rate_interval=args.rate_interval,
            layer=args.layer, end=end,
        )  # fmt: skip
    except (httpx.HTTPError, RuntimeError) as error:
        print(f"render_overview: {error}", file=sys.stderr)
        return 1
    render(panels, args.out, title=args.title, minutes=args.minutes, events=events)
    empty = [panel.title for panel in panels if not panel.series]
    print(f"wrote {args.out} ({len(panels)} panels, {len(empty)} without data: {empty})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
