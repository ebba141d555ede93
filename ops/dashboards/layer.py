"""The layer board: one channel layer (registry alias) in detail, per op and per pod."""

from __future__ import annotations

from ops.dashboards import presence
from ops.dashboards.overview import LATENCY, slow_fraction
from ops.dashboards.panels import (
    JSON,
    LAYER,
    POD,
    RATE,
    SCRAPE_JOB,
    dashboard,
    heatmap,
    layout,
    query_variable,
    stat,
    timeseries,
)
from ops.dashboards.thresholds import line


def variables() -> list[JSON]:
    return [
        query_variable("namespace", f"label_values(up{{{SCRAPE_JOB}}}, namespace)"),
        query_variable("pod", f'label_values(up{{{SCRAPE_JOB}, namespace=~"$namespace"}}, pod)'),
        query_variable(
            "layer",
            f"label_values(fast_channels_layer_queue_depth{{{POD}}}, layer)",
            multi=False,
        ),
    ]


def quantile_by_op(q: str) -> tuple[str, str]:
    expr = f"histogram_quantile({q}, sum by (op, le) (rate({LATENCY}_bucket{{{LAYER}}}[{RATE}])))"
    return expr, f"p{q[2:].ljust(2, '0')} {{{{op}}}}"


def summary() -> list[tuple[JSON, int, int]]:
    return [
        (stat("Deliveries / s", f"sum(rate(fast_channels_layer_messages_received_total{{{LAYER}}}"
              f"[{RATE}]))", "ops", "Messages handed to receivers per second."), 5, 5),
        (stat("Delivery p99", f"histogram_quantile(0.99, sum by (le) (rate({LATENCY}_bucket"
              f"{{{LAYER}}}[{RATE}])))", "s", "99th percentile delivery latency, all ops.",
              lines=[line("FastChannelsFanoutLatencyHigh")]), 5, 5),
        (stat("Largest backlog", f"max(fast_channels_layer_queue_depth{{{LAYER}}})", "short",
              "The deepest queue of any pod (local or Redis).",
              lines=[line("FastChannelsBacklogGrowing")]), 5, 5),
        (stat("Group memberships",
              f"sum(fast_channels_layer_group_members{{{LAYER}}})", "short",
              "Group memberships held by channels of the selected pods."), 4, 5),
        (stat("Redis errors / s", f"sum(rate(fast_channels_layer_redis_errors_total{{{LAYER}}}"
              f"[{RATE}]))", "ops", "Failed Redis calls per second.",
              lines=[line("FastChannelsRedisErrors")]), 5, 5),
    ]  # fmt: skip


def throughput() -> list[tuple[JSON, int, int]]:
    return [
        (timeseries("Sent / delivered by op", [
            (f"sum by (op) (rate(fast_channels_layer_messages_sent_total{{{LAYER}}}[{RATE}]))",
             "sent {{op}}"),
            (f"sum by (op) (rate(fast_channels_layer_messages_received_total{{{LAYER}}}"
             f"[{RATE}]))", "delivered {{op}}"),
            (f"sum(rate(fast_channels_layer_messages_redelivered_total{{{LAYER}}}[{RATE}]))",
             "redelivered"),
        ], "ops", "Messages per second by operation; redelivered: delivered again "
           "(delivery='at_least_once') after their receiver died or gave them back."), 8, 8),
        (timeseries("Delivery latency by op", [
            quantile_by_op("0.5"), quantile_by_op("0.9"), quantile_by_op("0.99")], "s",
            "From send/group_send to the receiving handler's start.",
            lines=[line("FastChannelsFanoutLatencyHigh")]), 8, 8),
        (heatmap("Delivery latency distribution",
                 f"sum by (le) (increase({LATENCY}_bucket{{{LAYER}}}[{RATE}]))", "s",
                 "Deliveries per latency bucket."), 8, 8),
        (timeseries("Deliveries slower than the SLO (0.25 s)", [
            (slow_fraction("op"), "{{op}}")], "percentunit",
            "Fraction of deliveries slower than 0.25 s, by op.",
            lines=[line("FastChannelsDeliveryLatencySlowBurn", "orange"),
                   line("FastChannelsDeliveryLatencyFastBurn")]), 8, 8),
        (timeseries("group_send fan-out size", [
            (f"sum(rate(fast_channels_layer_group_send_fanout_sum{{{LAYER}}}[{RATE}])) / "
             f"sum(rate(fast_channels_layer_group_send_fanout_count{{{LAYER}}}[{RATE}]))", "mean"),
            (f"histogram_quantile(0.99, sum by (le) (rate("
             f"fast_channels_layer_group_send_fanout_bucket{{{LAYER}}}[{RATE}])))", "p99"),
        ], "short", "Recipients per group_send."), 8, 8),
        (timeseries("Groups and memberships per pod", [
            (f"sum by (pod, instance) (fast_channels_layer_groups{{{LAYER}}})",
             "groups {{pod}} {{instance}}"),
            (f"sum by (pod, instance) (fast_channels_layer_group_members{{{LAYER}}})",
             "members {{pod}} {{instance}}"),
        ], "short", "Local groups and memberships of each pod."), 8, 8),
    ]  # fmt: skip


def health() -> list[tuple[JSON, int, int]]:
    return [
        (timeseries("Backlog per pod", [
            (f"sum by (pod, instance, where) (fast_channels_layer_queue_depth{{{LAYER}}})",
             "{{pod}} {{instance}} {{where}}")], "short",
            "where=local: buffered in the process; where=redis: waiting in Redis.",
            lines=[line("FastChannelsBacklogGrowing")]), 8, 8),
        (timeseries("Dropped by reason", [
            (f"sum by (reason) (rate(fast_channels_layer_messages_dropped_total{{{LAYER}}}"
             f"[{RATE}]))", "{{reason}}")], "ops", "Drops per second by reason.",
            lines=[line("FastChannelsMessagesDropped")]), 8, 8),
        (timeseries("Refused: channel full", [
            (f"sum by (op) (rate(fast_channels_layer_channel_full_total{{{LAYER}}}[{RATE}]))",
             "{{op}}"),
            (f"sum by (reason) (rate(fast_channels_layer_group_members_reaped_total{{{LAYER}}}"
             f"[{RATE}]))", "reaped: {{reason}}")], "ops",
            "Messages refused by full channels per second, and group members reaped because "
            "their process died (full refusals for them stop there).",
            lines=[line("FastChannelsChannelFull")]), 8, 8),
        (timeseries("Redis errors by op", [
            (f"sum by (op) (rate(fast_channels_layer_redis_errors_total{{{LAYER}}}[{RATE}]))",
             "{{op}}")], "ops", "Failed Redis calls per second.",
            lines=[line("FastChannelsRedisErrors")]), 12, 8),
        (timeseries("Redis reconnects per pod (15 min)", [
            (f"sum by (pod, instance) (increase(fast_channels_layer_reconnects_total{{{LAYER}}}"
             "[15m]))", "{{pod}} {{instance}}")], "short",
            "Reconnections to Redis over the last 15 minutes.",
            lines=[line("FastChannelsRedisReconnectStorm")]), 12, 8),
        (timeseries("Pub/sub subscribers cut off per pod (10 min)", [
            (f"sum by (pod, instance, reason) (increase("
             f"fast_channels_layer_subscriber_disconnects_total{{{LAYER}}}[10m]))",
             "{{pod}} {{instance}} {{reason}}")], "short",
            "Subscribed pub/sub connections that ended over the last 10 minutes: closed_by_redis "
            "(a running Redis dropped the subscriber, most often for its output-buffer limit), "
            "connection_lost (restart, network). Each lost what Redis held for it.",
            lines=[line("FastChannelsSubscriberCutOff")]), 12, 8),
    ]  # fmt: skip


def history() -> list[tuple[JSON, int, int]]:
    return [
        (timeseries("Group history held per pod", [
            (f"sum by (pod, instance, layer) (fast_channels_layer_history_messages{{{LAYER}}})",
             "{{pod}} {{instance}} {{layer}}")], "short",
            "Messages kept as group history for recovering clients (group_history): in-memory "
            "layers hold them in the process; a flat line at the configured sizes is normal."),
         24, 6),
    ]  # fmt: skip


def build() -> JSON:
    sections = [("Summary", summary()), ("Throughput and latency", throughput()),
                ("Backlog, drops, Redis", health()), ("Group history", history()),
                ("Presence", presence.panels())]  # fmt: skip
    return dashboard("fast-channels-layer", "fast_channels layer", variables(), layout(sections))
