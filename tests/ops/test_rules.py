"""The Prometheus rules: promtool accepts and unit-tests them; every alert is documented."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.ops.rules import (
    RULE_TESTS_DIR,
    RULES_FILE,
    THRESHOLDS_FILE,
    alerts,
    exported_sample_names,
    load_rules,
    number_literals,
    recorded_names,
    runbook_anchors,
    unknown_metrics,
)

SEVERITIES = {"critical", "warning", "info"}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (apt-get install prometheus; scripts/test does)")
    return path


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_check_rules(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts()) + len(recorded_names())} rules found" in result.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    files = sorted(str(path) for path in RULE_TESTS_DIR.glob("*.test.yml"))
    assert files
    result = run(promtool, "test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files), result.stdout


def _alert_cases() -> list[dict[str, Any]]:
    cases = []
    for path in RULE_TESTS_DIR.glob("*.test.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            cases.extend(test.get("alert_rule_test", []))
    return cases


@pytest.mark.parametrize("alert", alerts(), ids=lambda rule: rule["alert"])
def test_every_alert_has_a_firing_and_a_quiet_unit_test(alert: dict[str, Any]) -> None:
    cases = [case for case in _alert_cases() if case["alertname"] == alert["alert"]]
    firing = [case for case in cases if case["exp_alerts"]]
    quiet = [case for case in cases if not case["exp_alerts"]]
    assert firing, f"no promtool case makes {alert['alert']} fire"
    assert quiet, f"no promtool case checks {alert['alert']} stays quiet"
    for case in firing:
        for expected in case["exp_alerts"]:
            assert expected["exp_labels"]["severity"] == alert["labels"]["severity"]
            assert set(expected["exp_annotations"]) == set(alert["annotations"])


@pytest.mark.parametrize("alert", alerts(), ids=lambda rule: rule["alert"])
def test_every_alert_is_named_labelled_and_annotated(alert: dict[str, Any]) -> None:
    name = alert["alert"]
    assert re.fullmatch(r"FastChannels(?:[A-Z][a-z0-9]*)+", name), name
    assert alert["labels"]["severity"] in SEVERITIES
    annotations = alert["annotations"]
    assert annotations["summary"].strip()
    assert len(annotations["description"]) > len(annotations["summary"])
    assert annotations["runbook_url"] == f"README.md#runbook-{name.lower()}"


def test_every_runbook_link_has_its_heading() -> None:
    anchors = runbook_anchors()
    missing = [
        alert["alert"]
        for alert in alerts()
        if alert["annotations"]["runbook_url"].split("#", 1)[1] not in anchors
    ]
    assert not missing, f"README.md has no runbook heading for {missing}"


def test_alert_names_are_unique() -> None:
    names = [alert["alert"] for alert in alerts()]
    assert len(names) == len(set(names))


def _threshold_rows() -> dict[str, str]:
    rows = re.findall(r"^\| (FastChannels\w+) \|(.+)$", THRESHOLDS_FILE.read_text(), re.MULTILINE)
    # Columns after the name: severity | fires when | threshold | for
    return {name: rest.split("|")[2] for name, rest in rows}


@pytest.mark.parametrize("alert", alerts(), ids=lambda rule: rule["alert"])
def test_every_threshold_is_documented_with_its_number(alert: dict[str, Any]) -> None:
    rows = _threshold_rows()
    assert alert["alert"] in rows, "missing from ops/prometheus/thresholds.md"
    documented = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", rows[alert["alert"]])}
    assert documented, rows[alert["alert"]]
    assert documented <= number_literals(alert["expr"]), alert["expr"]


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule["alert"])
def test_alerts_read_only_exported_or_recorded_metrics(rule: dict[str, Any]) -> None:
    known = exported_sample_names() | recorded_names() | {"up"}
    assert not unknown_metrics(rule["expr"], known)


def test_recording_rules_read_only_exported_metrics() -> None:
    for rule in load_rules():
        if "record" in rule:
            assert not unknown_metrics(rule["expr"], exported_sample_names()), rule["record"]


def test_recording_rules_follow_level_metric_operations_naming() -> None:
    for name in recorded_names():
        level, metric, operations = name.split(":")
        assert re.fullmatch(r"[a-z]+(?:_[a-z]+)*", level), name
        assert any(sample.startswith(metric) for sample in exported_sample_names()), name
        assert re.fullmatch(r"[a-z0-9_]+", operations), name
