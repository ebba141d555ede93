"""The chart lints (strict) and every rendered object is valid Kubernetes 1.30."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tests.deploy.chart import CHART_DIR, Manifests
from tests.deploy.conftest import NAMESPACE, VALUE_SETS

KUBE_VERSION = "1.30.0"
# prometheus-operator CRDs: kubernetes-validate ships no schema for them, so they are checked
# by the assertions in test_chart_monitoring.py instead.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
INFO = 1


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_lint_strict(name: str) -> None:
    report: dict[str, Any] = helm.lint(
        CHART_DIR,
        VALUE_SETS[name],
        strict=True,
        namespace=NAMESPACE,
        kube_version=f"v{KUBE_VERSION}",
    )
    problems = [m for m in report["messages"] if m["severity"] > INFO]
    assert report["errors"] == []
    assert problems == []


def test_manifests_validate_against_kubernetes(manifests: Manifests) -> None:
    for obj in manifests.objects:
        if obj["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def test_crds_are_the_prometheus_operator_ones(manifests: Manifests) -> None:
    for obj in manifests.objects:
        if obj["kind"] in CRD_KINDS:
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def test_defaults_render_the_app_and_a_dev_redis(rendered: dict[str, Manifests]) -> None:
    assert rendered["defaults"].kinds() == [
        "ConfigMap",
        "Deployment",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "Service",
        "ServiceAccount",
    ]
    assert "WARNING: no Redis was configured" in rendered["defaults"].notes


def test_monitoring_set_renders_every_optional_object(rendered: dict[str, Manifests]) -> None:
    kinds = set(rendered["url-monitoring"].kinds())
    assert {
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Ingress",
        "ServiceMonitor",
        "PrometheusRule",
    } <= kinds
    assert len(rendered["url-monitoring"].find("ConfigMap")) == 2  # settings + dashboards
    assert "WARNING" not in rendered["url-monitoring"].notes


@pytest.mark.parametrize("name", ["url-monitoring", "sentinel", "cluster", "existing-secret"])
def test_configured_redis_replaces_the_dev_redis(rendered: dict[str, Manifests], name: str) -> None:
    assert [d["metadata"]["name"] for d in rendered[name].find("Deployment")] == [
        "demo-fast-channels"
    ]
    assert [s["metadata"]["name"] for s in rendered[name].find("Service")] == ["demo-fast-channels"]


def test_every_object_lives_in_the_release_namespace_or_sets_none(manifests: Manifests) -> None:
    # Helm installs into the release namespace; only the dashboards may be sent elsewhere.
    for obj in manifests.objects:
        assert obj["metadata"].get("namespace", NAMESPACE) == NAMESPACE
