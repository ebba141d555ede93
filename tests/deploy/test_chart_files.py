"""The chart's PrometheusRule and dashboards come from the same files as ops/ and dashboards/:
the chart holds byte-identical copies (helm/sync-files.sh), built into its objects unchanged."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from tests.deploy.chart import CHART_DIR, Manifests, render
from tests.deploy.conftest import NAMESPACE, RELEASE

FILES = CHART_DIR / "files"
SOURCES = {
    # chart copy directory: (source directory relative to the repository, pattern)
    "prometheus": ("ops/prometheus", "*.rules.yml"),
    "dashboards": ("dashboards", "*.json"),
}
HINT = "run helm/sync-files.sh and commit helm/fast-channels/files/"


def contents(directory: Path, pattern: str) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.glob(pattern))}


def test_chart_copies_are_byte_identical_to_their_sources(repo_root: Path) -> None:
    for copy_dir, (source_dir, pattern) in SOURCES.items():
        sources = contents(repo_root / source_dir, pattern)
        copies = contents(FILES / copy_dir, pattern)
        assert sorted(copies) == sorted(sources), f"{copy_dir}: files differ, {HINT}"
        for name, data in sources.items():
            assert copies[name] == data, f"{copy_dir}/{name} differs from {source_dir}, {HINT}"


def test_sync_script_reproduces_the_copies(repo_root: Path, tmp_path: Path) -> None:
    # Run the real script on a scratch tree holding the sources plus a stale copy.
    for source_dir, _ in SOURCES.values():
        shutil.copytree(repo_root / source_dir, tmp_path / source_dir, dirs_exist_ok=True)
    (tmp_path / "dashboards").mkdir(exist_ok=True)
    shutil.copytree(repo_root / "helm", tmp_path / "helm")
    stale = tmp_path / "helm/fast-channels/files/dashboards/removed.json"
    stale.write_text("{}")
    subprocess.run(["sh", str(tmp_path / "helm/sync-files.sh")], check=True, capture_output=True)
    assert not stale.exists()
    for copy_dir, (source_dir, pattern) in SOURCES.items():
        synced = tmp_path / "helm/fast-channels/files" / copy_dir
        assert contents(synced, pattern) == contents(tmp_path / source_dir, pattern)


def source_groups(repo_root: Path) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in sorted((repo_root / "ops/prometheus").glob("*.rules.yml")):
        groups.extend(yaml.safe_load(path.read_text())["groups"])
    return groups


def test_prometheus_rule_embeds_the_ops_rules_unchanged(
    rendered: dict[str, Manifests], repo_root: Path
) -> None:
    rule = rendered["url-monitoring"].one("PrometheusRule")
    assert rule["spec"]["groups"] == source_groups(repo_root)


def test_prometheus_rule_overrides_disables_and_appends(chart: helm.Chart, repo_root: Path) -> None:
    alerts = [r["alert"] for g in source_groups(repo_root) for r in g["rules"] if "alert" in r]
    if len(alerts) < 2:
        return  # nothing to override until ops/prometheus has alerts
    extra = {"name": "mine", "rules": [{"record": "x:y:sum", "expr": "sum(up)"}]}
    values = {
        "prometheusRule": {
            "enabled": True,
            "disabledAlerts": [alerts[0]],
            "alertOverrides": {alerts[1]: {"for": "30m", "labels": {"severity": "page"}}},
            "additionalGroups": [extra],
        }
    }
    groups = render(chart, values, RELEASE, NAMESPACE).one("PrometheusRule")["spec"]["groups"]
    rules = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    assert alerts[0] not in rules
    assert rules[alerts[1]]["for"] == "30m"
    assert rules[alerts[1]]["labels"]["severity"] == "page"
    assert groups[-1] == extra
    assert len(rules) == len(alerts) - 1


def test_dashboards_configmap_carries_every_dashboard_for_the_sidecar(
    rendered: dict[str, Manifests], repo_root: Path
) -> None:
    configmap = rendered["url-monitoring"].one("ConfigMap", "demo-fast-channels-dashboards")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    sources = contents(repo_root / "dashboards", "*.json")
    assert sorted(configmap.get("data") or {}) == sorted(sources)
    for name, data in (configmap.get("data") or {}).items():
        assert json.loads(data) == json.loads(sources[name])


def test_service_monitor_scrapes_metrics_on_the_http_port(rendered: dict[str, Manifests]) -> None:
    monitor = rendered["url-monitoring"].one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    endpoint = monitor["spec"]["endpoints"][0]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    service_ports = rendered["url-monitoring"].one("Service")["spec"]["ports"]
    assert "http" in [port["name"] for port in service_ports]


def test_scrape_job_matches_the_rules_job_selector(rendered: dict[str, Manifests]) -> None:
    # prometheus-operator names the job after the Service; the scrape alerts select
    # job=~".*fast-channels.*".
    service = rendered["url-monitoring"].one("Service")
    assert "fast-channels" in service["metadata"]["name"]


def test_monitoring_objects_are_off_by_default(rendered: dict[str, Manifests]) -> None:
    kinds = rendered["defaults"].kinds()
    assert "ServiceMonitor" not in kinds
    assert "PrometheusRule" not in kinds
    assert rendered["defaults"].find("ConfigMap", "demo-fast-channels-dashboards") == []
