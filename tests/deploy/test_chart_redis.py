"""Each Redis mode reaches the app as the FAST_CHANNELS_REDIS_* settings the library reads."""

from __future__ import annotations

import helm_python as helm
import pytest

from fast_channels.config import parse_group_history
from fast_channels.layers.history import HistoryPolicy
from tests.deploy.chart import Manifests, render
from tests.deploy.conftest import NAMESPACE, RELEASE

REDIS_KEYS = {
    "FAST_CHANNELS_REDIS_URL",
    "FAST_CHANNELS_REDIS_SENTINELS",
    "FAST_CHANNELS_REDIS_MASTER_NAME",
    "FAST_CHANNELS_REDIS_CLUSTER",
    "FAST_CHANNELS_REDIS_TLS_CA_FILE",
}


def redis_settings(manifests: Manifests) -> dict[str, str]:
    config = manifests.config()
    settings = {key: config[key] for key in REDIS_KEYS if key in config}
    settings["FAST_CHANNELS_LAYER"] = config["FAST_CHANNELS_LAYER"]
    return settings


def env(manifests: Manifests) -> dict[str, object]:
    return {item["name"]: item for item in manifests.app_container().get("env", [])}


def test_the_container_reads_the_settings_configmap(manifests: Manifests) -> None:
    assert manifests.app_container()["envFrom"][0] == {
        "configMapRef": {"name": "demo-fast-channels"}
    }


def test_defaults_point_at_the_dev_redis(rendered: dict[str, Manifests]) -> None:
    assert redis_settings(rendered["defaults"]) == {
        "FAST_CHANNELS_REDIS_URL": "redis://demo-fast-channels-redis:6379/0",
        "FAST_CHANNELS_LAYER": "redis",
    }
    service = rendered["defaults"].one("Service", "demo-fast-channels-redis")
    assert service["spec"]["ports"][0]["port"] == 6379


def test_url_mode(rendered: dict[str, Manifests]) -> None:
    assert redis_settings(rendered["url-monitoring"]) == {
        "FAST_CHANNELS_REDIS_URL": "redis://redis.example:6379/0",
        "FAST_CHANNELS_LAYER": "redis_pubsub",
    }
    assert env(rendered["url-monitoring"]) == {}


def test_sentinel_mode(rendered: dict[str, Manifests]) -> None:
    assert redis_settings(rendered["sentinel"]) == {
        "FAST_CHANNELS_REDIS_SENTINELS": "sentinel-0.sentinel:26379,sentinel-1.sentinel:26379",
        "FAST_CHANNELS_REDIS_MASTER_NAME": "channels",
        "FAST_CHANNELS_LAYER": "redis",
    }


def test_cluster_mode(rendered: dict[str, Manifests]) -> None:
    assert redis_settings(rendered["cluster"]) == {
        "FAST_CHANNELS_REDIS_URL": "redis://redis-cluster-0.redis-cluster:6379",
        "FAST_CHANNELS_REDIS_CLUSTER": "true",
        "FAST_CHANNELS_LAYER": "redis",
    }


def test_password_comes_from_the_existing_secret(rendered: dict[str, Manifests]) -> None:
    manifests = rendered["existing-secret"]
    assert env(manifests)["FAST_CHANNELS_REDIS_PASSWORD"] == {
        "name": "FAST_CHANNELS_REDIS_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "redis-credentials", "key": "password"}},
    }
    assert "PASSWORD" not in str(manifests.config())


def test_tls_ca_is_mounted_from_the_existing_secret(rendered: dict[str, Manifests]) -> None:
    manifests = rendered["existing-secret"]
    ca_file = manifests.config()["FAST_CHANNELS_REDIS_TLS_CA_FILE"]
    pod = manifests.app_deployment()["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "redis-tls")
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "redis-tls")
    assert volume["secret"] == {
        "secretName": "redis-ca",
        "items": [{"key": "ca.pem", "path": "ca.pem"}],
    }
    assert mount["readOnly"] is True
    assert ca_file == f"{mount['mountPath']}/ca.pem"
    assert manifests.config()["FAST_CHANNELS_REDIS_URL"].startswith("rediss://")


def test_no_secret_wiring_without_existing_secrets(rendered: dict[str, Manifests]) -> None:
    for name in ("defaults", "url-monitoring", "sentinel", "cluster"):
        pod = rendered[name].app_deployment()["spec"]["template"]["spec"]
        assert "FAST_CHANNELS_REDIS_PASSWORD" not in env(rendered[name])
        assert all(v["name"] != "redis-tls" for v in pod["volumes"])


def test_group_history_reaches_the_app_as_the_variable_it_parses(chart: helm.Chart) -> None:
    """`redis.groupHistory` becomes FAST_CHANNELS_GROUP_HISTORY, in the form the library reads;
    left empty, the variable is absent and the app's own history stands."""
    value = "chat.*=100:600, orders.*=50:0.5"
    config = render(chart, {"redis": {"groupHistory": value}}, RELEASE, NAMESPACE).config()
    assert config["FAST_CHANNELS_GROUP_HISTORY"] == value
    assert parse_group_history(config["FAST_CHANNELS_GROUP_HISTORY"]) == {
        "chat.*": HistoryPolicy(100, 600.0),
        "orders.*": HistoryPolicy(50, 0.5),
    }
    off = render(chart, {"redis": {"groupHistory": "none"}}, RELEASE, NAMESPACE).config()
    assert parse_group_history(off["FAST_CHANNELS_GROUP_HISTORY"]) == {}
    defaults = render(chart, {}, RELEASE, NAMESPACE).config()
    assert "FAST_CHANNELS_GROUP_HISTORY" not in defaults


@pytest.mark.parametrize("value", ["chat.*", "chat.*=0:600", "chat.*=100:0", "a=1:1,", "a=1:1s"])
def test_the_schema_refuses_a_malformed_group_history(chart: helm.Chart, value: str) -> None:
    with pytest.raises(helm.HelmValuesError) as raised:
        chart.render({"redis": {"groupHistory": value}}, name=RELEASE, namespace=NAMESPACE)
    assert "at '/redis/groupHistory'" in str(raised.value)
