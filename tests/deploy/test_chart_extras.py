"""Extra volumes and environment for the app, the NetworkPolicy, and no password in a ConfigMap."""

from __future__ import annotations

import helm_python as helm
import pytest

from tests.deploy.chart import APP_NAME, Manifests, render
from tests.deploy.conftest import NAMESPACE, RELEASE


def test_extra_volumes_are_mounted_into_the_app(rendered: dict[str, Manifests]) -> None:
    manifests = rendered["network-policy-extras"]
    pod = manifests.app_deployment()["spec"]["template"]["spec"]
    assert {"name": "redis-client", "secret": {"secretName": "redis-client"}} in pod["volumes"]
    container = manifests.app_container()
    mount = {"name": "redis-client", "mountPath": "/etc/redis-client", "readOnly": True}
    assert mount in container["volumeMounts"]
    assert {"name": "REDIS_CLIENT_CERT", "value": "/etc/redis-client/tls.crt"} in container["env"]


def test_network_policy_admits_only_the_app_port_from_the_given_peers(
    rendered: dict[str, Manifests],
) -> None:
    manifests = rendered["network-policy-extras"]
    app = manifests.one("NetworkPolicy", APP_NAME)
    assert (
        app["spec"]["podSelector"]["matchLabels"]
        == (manifests.app_deployment()["spec"]["selector"]["matchLabels"])
    )
    [rule] = app["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert len(rule["from"]) == 2
    # The dev Redis (no password) is reachable from this release's app pods only.
    redis = manifests.one("NetworkPolicy", f"{APP_NAME}-redis")
    [redis_rule] = redis["spec"]["ingress"]
    assert redis_rule["from"] == [
        {"podSelector": {"matchLabels": app["spec"]["podSelector"]["matchLabels"]}}
    ]


def test_no_network_policy_unless_enabled(rendered: dict[str, Manifests]) -> None:
    assert rendered["defaults"].find("NetworkPolicy") == []


@pytest.mark.parametrize(
    "url", ["redis://:s3cret@redis:6379/0", "rediss://app:s3cret@redis.example:6380/0"]
)
def test_a_password_in_the_redis_url_is_refused(chart: helm.Chart, url: str) -> None:
    with pytest.raises(helm.HelmRenderError) as raised:
        chart.render({"redis": {"url": url}}, name=RELEASE, namespace=NAMESPACE)
    message = str(raised.value)
    assert "redis.url holds a password" in message
    assert "redis.auth.existingSecret" in message
    assert "s3cret" not in message  # not echoed into CI logs either


def test_a_user_name_without_password_is_fine(chart: helm.Chart) -> None:
    manifests = render(chart, {"redis": {"url": "rediss://app@redis:6380/0"}}, RELEASE, NAMESPACE)
    assert manifests.config()["FAST_CHANNELS_REDIS_URL"] == "rediss://app@redis:6380/0"
