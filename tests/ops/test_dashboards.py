"""The Grafana dashboards: valid JSON of the right shape, every query reads exported metrics
through the template variables, threshold lines match the alert rules."""

from __future__ import annotations

import json
import re
from itertools import combinations
from typing import Any

import pytest

from ops.dashboards import build
from ops.dashboards.thresholds import THRESHOLDS
from tests.ops.rules import (
    DASHBOARDS_DIR,
    alerts,
    exported_sample_names,
    number_literals,
    recorded_names,
    selectors,
    unknown_metrics,
)

Board = dict[str, Any]
BOARD_FILES = sorted(build.BOARDS)


def load(name: str) -> Board:
    board: Board = json.loads((DASHBOARDS_DIR / name).read_text())
    return board


def panels(board: Board) -> list[dict[str, Any]]:
    return [panel for panel in board["panels"] if panel["type"] != "row"]


def queries(board: Board) -> list[str]:
    return [target["expr"] for panel in panels(board) for target in panel["targets"]]


def parsable(expr: str) -> str:
    """Grafana's interval variables are not PromQL; label variables sit inside quotes and parse."""
    return expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")


@pytest.fixture(params=BOARD_FILES)
def board(request: pytest.FixtureRequest) -> Board:
    return load(request.param)


@pytest.mark.parametrize("name", BOARD_FILES)
def test_committed_json_is_what_the_generator_writes(name: str) -> None:
    text = (DASHBOARDS_DIR / name).read_text()
    assert text == build.render(build.BOARDS[name]()), "run python -m ops.dashboards.build"


def test_dashboard_shape(board: Board) -> None:
    assert 36 <= board["schemaVersion"] <= 41
    assert board["uid"]
    assert board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"namespace", "pod", "layer"} <= set(variables)
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))


def test_panels_do_not_overlap_and_fit_24_columns(board: Board) -> None:
    boxes = [panel["gridPos"] for panel in board["panels"]]
    for box in boxes:
        assert min(box["w"], box["h"]) > 0
        assert 0 <= box["x"] <= box["x"] + box["w"] <= 24

    def overlap(a: dict[str, int], b: dict[str, int]) -> bool:
        return (
            a["x"] < b["x"] + b["w"]
            and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"]
            and b["y"] < a["y"] + a["h"]
        )

    assert not [(a, b) for a, b in combinations(boxes, 2) if overlap(a, b)]


def test_every_panel_has_datasource_unit_and_targets(board: Board) -> None:
    for panel in panels(board):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        assert panel["description"], panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert refs, panel["title"]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["expr"].strip()


def test_every_query_parses_and_reads_only_exported_metrics(board: Board) -> None:
    known = exported_sample_names() | recorded_names() | {"up"}
    for expr in queries(board):
        assert not unknown_metrics(parsable(expr), known), expr


def _required_matchers(metric: str, variables: set[str]) -> set[tuple[str, str]]:
    required = {("namespace", "$namespace"), ("pod", "$pod")}
    if metric.startswith("fast_channels_layer_"):
        required.add(("layer", "$layer"))
    if metric.startswith(("fast_channels_websocket_", "fast_channels_consumer_")):
        required |= {("consumer", "$consumer")} & {("consumer", f"${v}") for v in variables}
    return required


def test_every_selector_is_narrowed_by_the_variables(board: Board) -> None:
    variables = {v["name"] for v in board["templating"]["list"]}
    for expr in queries(board):
        for selector in selectors(parsable(expr)):
            matchers = {(m.name, m.value) for m in selector.matchers.matchers}
            assert selector.name is not None
            assert _required_matchers(selector.name, variables) <= matchers, expr


def test_variable_queries_read_exported_metrics(board: Board) -> None:
    known = exported_sample_names() | {"up"}
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]["query"])
        assert match, variable["query"]
        assert not unknown_metrics(match.group(1), known)
        assert variable["datasource"]["uid"] == "${datasource}"


def _alert_exprs() -> dict[str, str]:
    return {rule["alert"]: rule["expr"] for rule in alerts()}


@pytest.mark.parametrize("alert", sorted(THRESHOLDS))
def test_drawn_thresholds_are_the_rule_thresholds(alert: str) -> None:
    assert THRESHOLDS[alert] in number_literals(_alert_exprs()[alert])


def test_threshold_lines_name_their_alerts(board: Board) -> None:
    exprs = _alert_exprs()
    drawn = 0
    for panel in panels(board):
        steps = panel["fieldConfig"]["defaults"].get("thresholds", {"steps": []})["steps"]
        values = [step["value"] for step in steps if step["value"] is not None]
        named = re.findall(r"FastChannels\w+", panel["description"])
        assert len(values) == len(named), panel["title"]
        for value, alert in zip(values, named, strict=True):
            assert value in number_literals(exprs[alert]), (panel["title"], alert)
        if values and panel["type"] == "timeseries":
            assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"
        drawn += len(values)
    assert drawn >= 5


def _families(board: Board) -> set[str]:
    names = {s.name or "" for expr in queries(board) for s in selectors(parsable(expr))}
    return {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in names}


def test_overview_shows_every_metric_of_the_catalogue() -> None:
    catalogue = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in exported_sample_names()}
    assert catalogue - _families(load("fast-channels-overview.json")) <= {
        "fast_channels_layer_groups",
        "fast_channels_layer_group_members",
        "fast_channels_layer_reconnects",
        "fast_channels_layer_subscriber_disconnects",  # connection events: the layer board
        "fast_channels_layer_group_members_reaped",  # on the layer board, beside channel full
        # Presence: its own row on the layer board.
        "fast_channels_layer_presence_entries",
        "fast_channels_layer_presence_events",
        "fast_channels_layer_presence_reaped",
    }


def test_layer_board_shows_every_layer_metric() -> None:
    layer_metrics = {
        re.sub(r"_(total|bucket|sum|count)$", "", n)
        for n in exported_sample_names()
        if n.startswith("fast_channels_layer_")
    }
    assert layer_metrics <= _families(load("fast-channels-layer.json"))
