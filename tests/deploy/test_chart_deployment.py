"""The app's Deployment: probes, drain, hardening, labels, selectors and config rollouts."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest

from tests.deploy.chart import Manifests, render
from tests.deploy.conftest import NAMESPACE, RELEASE, VALUE_SETS

SELECTOR = {"app.kubernetes.io/name": "fast-channels", "app.kubernetes.io/instance": RELEASE}
STANDARD_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
}


def test_probes_hit_health_endpoints_on_the_http_port(manifests: Manifests) -> None:
    container = manifests.app_container()
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    paths = {
        probe: container[probe]["httpGet"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert paths == {
        "startupProbe": {"path": "/healthz", "port": "http"},
        "livenessProbe": {"path": "/healthz", "port": "http"},
        "readinessProbe": {"path": "/readyz", "port": "http"},
    }
    assert manifests.config()["PORT"] == "8000"


def test_rolling_update_never_drops_capacity(manifests: Manifests) -> None:
    strategy = manifests.app_deployment()["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_grace_period_covers_prestop_and_drain(manifests: Manifests) -> None:
    pod = manifests.app_deployment()["spec"]["template"]["spec"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain = int(manifests.config()["FAST_CHANNELS_DRAIN_TIMEOUT"])
    assert drain == 20
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + drain


def test_security_context_is_non_root_read_only_and_unprivileged(manifests: Manifests) -> None:
    for deployment in manifests.find("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert pod["enableServiceLinks"] is False
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}


def test_writable_paths_are_emptydirs(manifests: Manifests) -> None:
    pod = manifests.app_deployment()["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    assert mounts["tmp"] == "/tmp"
    assert {"tmp", "metrics"} <= empty_dirs


def test_several_workers_use_the_prometheus_multiprocess_dir(
    rendered: dict[str, Manifests],
) -> None:
    multi = rendered["url-monitoring"]
    pod = multi.app_deployment()["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert multi.config()["WEB_CONCURRENCY"] == "3"
    assert multi.config()["PROMETHEUS_MULTIPROC_DIR"] == mounts["metrics"]
    assert "PROMETHEUS_MULTIPROC_DIR" not in rendered["defaults"].config()


def test_topology_spread_selects_the_apps_pods(manifests: Manifests) -> None:
    constraints = manifests.app_deployment()["spec"]["template"]["spec"][
        "topologySpreadConstraints"
    ]
    assert [c["topologyKey"] for c in constraints] == [
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    ]
    for constraint in constraints:
        assert constraint["labelSelector"] == {"matchLabels": SELECTOR}


def test_every_object_has_the_standard_labels(manifests: Manifests) -> None:
    for obj in manifests.objects:
        labels = obj["metadata"]["labels"]
        assert labels.keys() >= STANDARD_LABELS, obj["kind"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "fast-channels-0.1.0"


def test_selectors_are_name_and_instance_only(manifests: Manifests) -> None:
    deployment = manifests.app_deployment()
    assert deployment["spec"]["selector"]["matchLabels"] == SELECTOR
    assert deployment["spec"]["template"]["metadata"]["labels"].items() >= SELECTOR.items()
    assert manifests.one("Service", "demo-fast-channels")["spec"]["selector"] == SELECTOR
    for pdb in manifests.find("PodDisruptionBudget"):
        assert pdb["spec"]["selector"]["matchLabels"] == SELECTOR
    for monitor in manifests.find("ServiceMonitor"):
        assert monitor["spec"]["selector"]["matchLabels"] == SELECTOR


def test_selector_is_stable_across_every_values_set(rendered: dict[str, Manifests]) -> None:
    # A Deployment's selector is immutable: an upgrade between any two sets must keep it.
    assert rendered.keys() == VALUE_SETS.keys()
    for manifests in rendered.values():
        assert manifests.app_deployment()["spec"]["selector"] == {"matchLabels": SELECTOR}


def test_selector_ignores_version_and_extra_pod_labels(chart: helm.Chart) -> None:
    values: dict[str, Any] = {"image": {"tag": "9.9.9"}, "podLabels": {"team": "chat"}}
    changed = render(chart, values, RELEASE, NAMESPACE)
    deployment = changed.app_deployment()
    assert deployment["spec"]["selector"]["matchLabels"] == SELECTOR
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == "9.9.9"
    assert deployment["spec"]["template"]["metadata"]["labels"]["team"] == "chat"


def test_dev_redis_pods_are_not_selected_by_the_app(rendered: dict[str, Manifests]) -> None:
    redis = rendered["defaults"].one("Deployment", "demo-fast-channels-redis")
    labels = redis["spec"]["template"]["metadata"]["labels"]
    assert not labels.items() >= SELECTOR.items()
    assert redis["spec"]["selector"]["matchLabels"].items() <= labels.items()


def checksum(manifests: Manifests) -> str:
    annotations = manifests.app_deployment()["spec"]["template"]["metadata"]["annotations"]
    value: str = annotations["checksum/config"]
    return value


@pytest.mark.parametrize(
    "change",
    [
        {"redis": {"url": "redis://other:6379/0"}},
        {"drain": {"timeoutSeconds": 25}, "terminationGracePeriodSeconds": 40},
        {"app": {"config": {"FEATURE_X": "on"}}},
    ],
)
def test_config_changes_change_the_checksum(
    chart: helm.Chart, rendered: dict[str, Manifests], change: dict[str, Any]
) -> None:
    base = rendered["defaults"]
    assert checksum(render(chart, {}, RELEASE, NAMESPACE)) == checksum(base)
    assert checksum(render(chart, change, RELEASE, NAMESPACE)) != checksum(base)


def test_replicas_belong_to_the_hpa_when_autoscaling(rendered: dict[str, Manifests]) -> None:
    assert rendered["defaults"].app_deployment()["spec"]["replicas"] == 2
    assert "replicas" not in rendered["url-monitoring"].app_deployment()["spec"]


def test_hpa_scales_on_cpu_and_connections_per_pod(rendered: dict[str, Manifests]) -> None:
    hpa = rendered["url-monitoring"].one("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "demo-fast-channels",
    }
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["target"]["averageUtilization"] == 70
    assert metrics["Pods"]["pods"] == {
        "metric": {"name": "fast_channels_websocket_connections"},
        "target": {"type": "AverageValue", "averageValue": "500"},
    }


def test_pdb_takes_min_available_or_max_unavailable(rendered: dict[str, Manifests]) -> None:
    assert rendered["defaults"].one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    spec = rendered["url-monitoring"].one("PodDisruptionBudget")["spec"]
    assert spec["minAvailable"] == 2
    assert "maxUnavailable" not in spec


def test_ingress_keeps_websockets_open_on_ingress_nginx(rendered: dict[str, Manifests]) -> None:
    ingress = rendered["url-monitoring"].one("Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "demo-fast-channels", "port": {"name": "http"}}}


def test_demo_app_is_the_default_and_app_module_replaces_it(chart: helm.Chart) -> None:
    assert "APP_MODULE" not in render(chart, {}, RELEASE, NAMESPACE).config()
    values = {"app": {"module": "myapp.main:create_app", "factory": True}}
    config = render(chart, values, RELEASE, NAMESPACE).config()
    assert config["APP_MODULE"] == "myapp.main:create_app"
    assert config["UVICORN_FACTORY"] == "true"


def test_handshake_timeout_reaches_the_entrypoint(chart: helm.Chart) -> None:
    # The entrypoint serves with fast_channels.handshake:HTTPProtocol, which reads it.
    assert render(chart, {}, RELEASE, NAMESPACE).config()["FAST_CHANNELS_HANDSHAKE_TIMEOUT"] == "10"
    values = {"app": {"handshakeTimeoutSeconds": 2.5}}
    config = render(chart, values, RELEASE, NAMESPACE).config()
    assert config["FAST_CHANNELS_HANDSHAKE_TIMEOUT"] == "2.5"


def test_server_and_gc_settings_reach_the_entrypoint(chart: helm.Chart) -> None:
    # The entrypoint passes UVICORN_WS*; service.lifespan() reads FAST_CHANNELS_GC_*.
    config = render(chart, {}, RELEASE, NAMESPACE).config()
    assert config["UVICORN_WS"] == "fast_channels.wsprotocol:SharedFrameProtocol"
    assert config["UVICORN_WS_PER_MESSAGE_DEFLATE"] == "false"
    assert "FAST_CHANNELS_GC_THRESHOLD" not in config
    assert config["FAST_CHANNELS_GC_FREEZE"] == "false"
    values = {
        "app": {
            "ws": "wsproto",
            "wsPerMessageDeflate": True,
            "gc": {"threshold": "50000,20,20", "freeze": True},
        }
    }
    config = render(chart, values, RELEASE, NAMESPACE).config()
    assert config["UVICORN_WS"] == "wsproto"
    assert config["UVICORN_WS_PER_MESSAGE_DEFLATE"] == "true"
    assert config["FAST_CHANNELS_GC_THRESHOLD"] == "50000,20,20"
    assert config["FAST_CHANNELS_GC_FREEZE"] == "true"
