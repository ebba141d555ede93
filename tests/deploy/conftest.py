"""The chart rendered once per values set and session: the Helm engine is the slow part."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from tests.deploy.chart import CHART_DIR, Manifests, render

RELEASE = "demo"
NAMESPACE = "chat"

# The values sets of issue 6: each one is linted, rendered, schema-validated and inspected.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "url-monitoring": {
        "redis": {"url": "redis://redis.example:6379/0", "layer": "redis_pubsub"},
        "app": {"workers": 3},
        "autoscaling": {"enabled": True, "connections": {"enabled": True, "averageValue": 500}},
        "podDisruptionBudget": {"enabled": True, "minAvailable": 2, "maxUnavailable": None},
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "prometheusRule": {"enabled": True},
        "dashboards": {"enabled": True},
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "hosts": [{"host": "chat.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
            "tls": [{"secretName": "chat-tls", "hosts": ["chat.example.com"]}],
        },
    },
    "sentinel": {
        "redis": {
            "mode": "sentinel",
            "sentinel": {
                "addresses": ["sentinel-0.sentinel:26379", "sentinel-1.sentinel:26379"],
                "masterName": "channels",
            },
        },
    },
    "cluster": {"redis": {"mode": "cluster", "url": "redis://redis-cluster-0.redis-cluster:6379"}},
    "existing-secret": {
        "redis": {
            "url": "rediss://redis.example:6380/0",
            "auth": {"existingSecret": "redis-credentials", "passwordKey": "password"},
            "tls": {"existingSecret": "redis-ca", "caKey": "ca.pem"},
        },
    },
    # Issue 21: a client certificate mounted for Redis mTLS, a NetworkPolicy with the dev Redis.
    "network-policy-extras": {
        "networkPolicy": {
            "enabled": True,
            "ingressFrom": [
                {"namespaceSelector": {"matchLabels": {"name": "ingress-nginx"}}},
                {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}},
            ],
        },
        "app": {
            "extraVolumes": [{"name": "redis-client", "secret": {"secretName": "redis-client"}}],
            "extraVolumeMounts": [
                {"name": "redis-client", "mountPath": "/etc/redis-client", "readOnly": True}
            ],
            "extraEnv": [{"name": "REDIS_CLIENT_CERT", "value": "/etc/redis-client/tls.crt"}],
        },
    },
}


@pytest.fixture(scope="session")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def rendered(chart: helm.Chart) -> dict[str, Manifests]:
    """Every values set rendered once: {set name: its manifests}."""
    return {name: render(chart, values, RELEASE, NAMESPACE) for name, values in VALUE_SETS.items()}


@pytest.fixture(params=sorted(VALUE_SETS))
def value_set(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def manifests(rendered: dict[str, Manifests], value_set: str) -> Manifests:
    return rendered[value_set]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return CHART_DIR.parents[1]
