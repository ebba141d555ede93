"""Alert thresholds drawn on the dashboards: the literals of ops/prometheus/fast-channels.rules.yml.

tests/ops/test_dashboards.py checks each number here is one of its alert expression's literals.
"""

from __future__ import annotations

THRESHOLDS: dict[str, float] = {
    "FastChannelsBacklogGrowing": 1000,
    "FastChannelsDeliveryLatencyFastBurn": 0.144,
    "FastChannelsDeliveryLatencySlowBurn": 0.06,
    "FastChannelsFanoutLatencyHigh": 0.25,
    "FastChannelsMessagesDropped": 0.1,
    "FastChannelsChannelFull": 0.1,
    "FastChannelsRedisErrors": 0.1,
    "FastChannelsRedisReconnectStorm": 5,
    "FastChannelsSubscriberCutOff": 2,
    "FastChannelsConsumerErrors": 0.05,
    "FastChannelsRecoveriesIncomplete": 0.1,
}
# The SLO bucket bound of the burn-rate alerts (a bucket of the delivery latency histogram).
SLO_SECONDS = "0.25"


def line(alert: str, color: str = "red") -> tuple[float, str, str]:
    """A threshold line at `alert`'s threshold: (value, colour, alert name)."""
    return (THRESHOLDS[alert], color, alert)
