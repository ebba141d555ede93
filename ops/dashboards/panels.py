"""Small builders for Grafana dashboard JSON (schema 39): variables, panels, layout."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

DATASOURCE: JSON = {"type": "prometheus", "uid": "${datasource}"}
SCRAPE_JOB = 'job=~".*fast-channels.*"'
# Every fast_channels query carries these matchers, so the variables narrow every panel.
POD = 'namespace=~"$namespace", pod=~"$pod"'
LAYER = POD + ', layer=~"$layer"'
CONSUMER = POD + ', consumer=~"$consumer"'
RATE = "$__rate_interval"


def datasource_variable() -> JSON:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
    }


def query_variable(name: str, query: str, *, multi: bool = True) -> JSON:
    """A label_values() variable; with `multi`, "All" means `.*` (matches a missing label too)."""
    variable: JSON = {
        "name": name,
        "label": name,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": f"var-{name}"},
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "hide": 0,
    }
    if multi:
        variable["allValue"] = ".*"
        variable["current"] = {"text": "All", "value": "$__all"}
    return variable


def target(expr: str, legend: str, ref: int, **extra: Any) -> JSON:
    return {
        "datasource": DATASOURCE,
        "expr": expr,
        "legendFormat": legend,
        "refId": chr(ord("A") + ref),
        "range": True,
        **extra,
    }


def _thresholds(lines: list[tuple[float, str]]) -> JSON:
    steps: list[JSON] = [{"color": "green", "value": None}]
    steps += [{"color": color, "value": value} for value, color in lines]
    return {"mode": "absolute", "steps": steps}


def _describe(description: str, alerts: list[str]) -> str:
    if alerts:
        description += " Threshold lines: " + ", ".join(alerts) + "."
    return description


def timeseries(
    title: str,
    queries: list[tuple[str, str]],
    unit: str,
    description: str,
    *,
    lines: list[tuple[float, str, str]] | None = None,
    stack: bool = False,
) -> JSON:
    """A time series panel; `lines` are (value, colour, alert name) drawn as threshold lines."""
    lines = lines or []
    custom: JSON = {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "line" if lines else "off"},
    }
    return {
        "type": "timeseries",
        "title": title,
        "description": _describe(description, [alert for _, _, alert in lines]),
        "datasource": DATASOURCE,
        "targets": [target(expr, legend, i) for i, (expr, legend) in enumerate(queries)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "custom": custom,
                "thresholds": _thresholds([(value, color) for value, color, _ in lines]),
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(
    title: str,
    expr: str,
    unit: str,
    description: str,
    *,
    lines: list[tuple[float, str, str]] | None = None,
) -> JSON:
    lines = lines or []
    return {
        "type": "stat",
        "title": title,
        "description": _describe(description, [alert for _, _, alert in lines]),
        "datasource": DATASOURCE,
        "targets": [target(expr, title, 0, instant=True)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": _thresholds([(value, color) for value, color, _ in lines]),
            },
            "overrides": [],
        },
        "options": {
            "colorMode": "value",
            "graphMode": "area",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
    }


def heatmap(title: str, expr: str, unit: str, description: str) -> JSON:
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target(expr, "{{le}}", 0, format="heatmap")],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {
            "calculate": False,
            "yAxis": {"unit": unit},
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges"},
        },
    }


def row(title: str) -> JSON:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def layout(sections: list[tuple[str, list[tuple[JSON, int, int]]]]) -> list[JSON]:
    """Places (panel, width, height) left to right in 24 columns under a row per section."""
    panels: list[JSON] = []
    y = 0
    for title, items in sections:
        panels.append({**row(title), "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
        y += 1
        x, line_height = 0, 0
        for panel, width, height in items:
            if x + width > 24:
                x, y, line_height = 0, y + line_height, 0
            panels.append({**panel, "gridPos": {"h": height, "w": width, "x": x, "y": y}})
            x += width
            line_height = max(line_height, height)
        y += line_height
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    return panels


def dashboard(uid: str, title: str, variables: list[JSON], panels: list[JSON]) -> JSON:
    return {
        "uid": uid,
        "title": title,
        "tags": ["fast_channels"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": ["fast_channels"],
                "title": "fast_channels",
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "templating": {"list": [datasource_variable(), *variables]},
        "panels": panels,
    }
