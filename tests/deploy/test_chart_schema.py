"""values.schema.json rejects wrong types and unknown keys; the templates reject bad combinations.
Both with a message naming the value to fix."""

from __future__ import annotations

import json
from typing import Any

import helm_python as helm
import pytest

from tests.deploy.chart import CHART_DIR
from tests.deploy.conftest import NAMESPACE, RELEASE


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicaCount": "3"}, "at '/replicaCount': got string, want integer"),
        ({"redis": {"url": 6379}}, "at '/redis/url': got number, want string"),
        ({"app": {"workers": 0}}, "at '/app/workers'"),
        ({"redis": {"mode": "standalone"}}, "at '/redis/mode'"),
        ({"redis": {"layer": "kafka"}}, "at '/redis/layer'"),
        ({"redis": {"url": "http://redis:6379"}}, "at '/redis/url'"),
        (
            {"redis": {"sentinel": {"addresses": ["sentinel-0"]}}},
            "at '/redis/sentinel/addresses/0'",
        ),
        ({"drain": {"timeoutSeconds": "20s"}}, "at '/drain/timeoutSeconds': got string"),
        ({"serviceMonitor": {"enabled": "yes"}}, "at '/serviceMonitor/enabled': got string"),
        ({"app": {"module": "not a module"}}, "at '/app/module'"),
        ({"app": {"handshakeTimeoutSeconds": 0}}, "at '/app/handshakeTimeoutSeconds'"),
        ({"app": {"handshakeTimeoutSeconds": "10s"}}, "at '/app/handshakeTimeoutSeconds'"),
        ({"app": {"ws": "uvloop"}}, "at '/app/ws'"),
        ({"app": {"gc": {"threshold": "50000;20"}}}, "at '/app/gc/threshold'"),
    ],
)
def test_schema_rejects_wrong_values(
    chart: helm.Chart, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmValuesError) as raised:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicas": 3}, "at '': additional properties 'replicas' not allowed"),
        ({"redis": {"password": "x"}}, "at '/redis': additional properties 'password' not allowed"),
        ({"autoscaling": {"targetCPU": 50}}, "at '/autoscaling': additional properties"),
        (
            {"prometheusRule": {"alertOverrides": {"FastChannelsRedisErrors": {"fr": "5m"}}}},
            "additional properties 'fr' not allowed",
        ),
    ],
)
def test_schema_rejects_unknown_keys(
    chart: helm.Chart, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmValuesError) as raised:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert message in str(raised.value)


def test_every_object_in_the_schema_closes_its_keys() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    # Free-form maps (labels, annotations, resources' quantities) say what their values are;
    # objects with named properties must refuse the rest.
    open_objects: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False:
                open_objects.append(path)
            for key, child in node.items():
                walk(child, f"{path}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{path}/{index}")

    walk(schema, "")
    # EnvVar, Volume, VolumeMount, topology spread and rule group items pass through to
    # Kubernetes/Prometheus objects whose other fields are theirs to check.
    assert open_objects == [
        "/properties/app/properties/extraEnv/items",
        "/properties/app/properties/extraVolumes/items",
        "/properties/app/properties/extraVolumeMounts/items",
        "/properties/topologySpreadConstraints/items",
        "/properties/prometheusRule/properties/additionalGroups/items",
    ]


def test_defaults_pass_the_schema(chart: helm.Chart) -> None:
    chart.validate_schema(chart.values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"drain": {"timeoutSeconds": 40}},
            "terminationGracePeriodSeconds (35) must be greater than drain.preStopSleepSeconds (5)"
            " + drain.timeoutSeconds (40) = 45",
        ),
        (
            {"terminationGracePeriodSeconds": 25},
            "terminationGracePeriodSeconds (25) must be greater than",
        ),
        ({"devRedis": {"enabled": False}}, "redis.url is empty and devRedis.enabled is false"),
        ({"redis": {"mode": "cluster"}}, "redis.mode=cluster needs redis.url"),
        ({"redis": {"mode": "sentinel"}}, "redis.mode=sentinel needs redis.sentinel.addresses"),
        (
            {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}},
            "autoscaling.minReplicas (5) is greater than autoscaling.maxReplicas (3)",
        ),
        (
            {"autoscaling": {"enabled": True}, "resources": {"requests": {"cpu": None}}},
            "autoscaling on CPU needs resources.requests.cpu",
        ),
        (
            {"prometheusRule": {"enabled": True, "disabledAlerts": ["FastChannelsTypo"]}},
            'prometheusRule: no alert named "FastChannelsTypo"',
        ),
    ],
)
def test_templates_reject_bad_combinations(
    chart: helm.Chart, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError) as raised:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert message in str(raised.value)
