"""The overview board: sockets, messages, fan-out latency and size, backlog, drops, errors,
recovery."""

from __future__ import annotations

from ops.dashboards import recovery
from ops.dashboards.panels import (
    CONSUMER,
    JSON,
    LAYER,
    POD,
    RATE,
    SCRAPE_JOB,
    dashboard,
    layout,
    query_variable,
    stat,
    timeseries,
)
from ops.dashboards.thresholds import SLO_SECONDS, line

LATENCY = "fast_channels_layer_delivery_latency_seconds"


def variables() -> list[JSON]:
    return [
        query_variable("namespace", f"label_values(up{{{SCRAPE_JOB}}}, namespace)"),
        query_variable("pod", f'label_values(up{{{SCRAPE_JOB}, namespace=~"$namespace"}}, pod)'),
        query_variable("layer", f"label_values(fast_channels_layer_queue_depth{{{POD}}}, layer)"),
        query_variable(
            "consumer",
            f"label_values(fast_channels_websocket_connections_opened_total{{{POD}}}, consumer)",
        ),
    ]


def fanout_quantile(q: str) -> tuple[str, str]:
    expr = (
        f"histogram_quantile({q}, sum by (layer, le) "
        f'(rate({LATENCY}_bucket{{{LAYER}, op="group_send"}}[{RATE}])))'
    )
    return expr, f"p{q[2:].ljust(2, '0')} {{{{layer}}}}"


def slow_fraction(by: str) -> str:
    return (
        f'1 - sum by ({by}) (rate({LATENCY}_bucket{{{LAYER}, le="{SLO_SECONDS}"}}[{RATE}]))'
        f" / sum by ({by}) (rate({LATENCY}_count{{{LAYER}}}[{RATE}]))"
    )


def connections() -> list[tuple[JSON, int, int]]:
    return [
        (stat("Open sockets", f"sum(fast_channels_websocket_connections{{{CONSUMER}}})",
              "short", "WebSocket connections open now, all pods."), 4, 6),
        (timeseries("Open sockets by consumer", [
            (f"sum by (consumer) (fast_channels_websocket_connections{{{CONSUMER}}})",
             "{{consumer}}")], "short", "Open WebSocket connections per consumer class."), 10, 6),
        (timeseries("Connects / disconnects", [
            (f"sum(rate(fast_channels_websocket_connections_opened_total{{{CONSUMER}}}[{RATE}]))",
             "connects"),
            (f"sum by (reason) (rate(fast_channels_websocket_connections_closed_total"
             f"{{{CONSUMER}}}[{RATE}]))", "closed: {{reason}}"),
        ], "ops", "Sockets accepted and closed per second, closes by reason."), 10, 6),
    ]  # fmt: skip


def messages() -> list[tuple[JSON, int, int]]:
    return [
        (timeseries("WebSocket frames in / out", [
            (f"sum by (direction) (rate(fast_channels_websocket_messages_total{{{CONSUMER}}}"
             f"[{RATE}]))", "{{direction}}")],
            "ops", "Frames received from and sent to clients per second."), 8, 8),
        (timeseries("Layer messages sent / delivered", [
            (f"sum by (layer, op) (rate(fast_channels_layer_messages_sent_total{{{LAYER}}}"
             f"[{RATE}]))", "sent {{layer}} {{op}}"),
            (f"sum by (layer, op) (rate(fast_channels_layer_messages_received_total{{{LAYER}}}"
             f"[{RATE}]))", "delivered {{layer}} {{op}}"),
            (f"sum by (layer) (rate(fast_channels_layer_messages_redelivered_total{{{LAYER}}}"
             f"[{RATE}]))", "redelivered {{layer}}"),
        ], "ops", "Messages accepted by send/group_send and handed to receivers, per second. "
           "One group_send is delivered once per member. redelivered: delivered again "
           "(delivery='at_least_once') after their receiver died or gave them back."), 8, 8),
        (timeseries("Frame size p99", [
            (f"histogram_quantile(0.99, sum by (direction, le) (rate("
             f"fast_channels_websocket_message_bytes_bucket{{{CONSUMER}}}[{RATE}])))",
             "p99 {{direction}}")], "bytes", "99th percentile WebSocket frame size."), 8, 8),
    ]  # fmt: skip


def http() -> list[tuple[JSON, int, int]]:
    return [
        (timeseries("HTTP requests open", [
            (f"sum by (consumer) (fast_channels_http_requests{{{CONSUMER}}})", "{{consumer}}")],
            "short", "Requests held open by HTTP consumers (long-polls, event streams)."), 8, 8),
        (timeseries("HTTP responses by status", [
            (f"sum by (consumer, status) (rate(fast_channels_http_responses_total{{{CONSUMER}}}"
             f"[{RATE}]))", "{{consumer}} {{status}}")], "ops",
            "HTTP consumer requests ended per second, by status class (none: no response "
            "started, e.g. the client left a long-poll)."), 8, 8),
        (timeseries("HTTP body chunk size p99", [
            (f"histogram_quantile(0.99, sum by (le) (rate("
             f"fast_channels_http_response_bytes_bucket{{{CONSUMER}}}[{RATE}])))", "p99")],
            "bytes", "99th percentile size of HTTP consumer body chunks (an event, a "
            "long-poll answer)."), 8, 8),
    ]  # fmt: skip


def fanout() -> list[tuple[JSON, int, int]]:
    return [
        (timeseries("Fan-out latency (group_send → handler)",
            [fanout_quantile("0.5"), fanout_quantile("0.9"), fanout_quantile("0.99")], "s",
            "Delivery latency quantiles of group_send by layer, from the send to the member's "
            "handler start.", lines=[line("FastChannelsFanoutLatencyHigh")]), 8, 8),
        (timeseries("Deliveries slower than the SLO (0.25 s)", [
            (slow_fraction("layer"), "{{layer}}")], "percentunit",
            "Fraction of deliveries (all ops) slower than 0.25 s; the burn-rate alerts fire when "
            "it stays above 6% (slow) or 14.4% (fast).",
            lines=[line("FastChannelsDeliveryLatencySlowBurn", "orange"),
                   line("FastChannelsDeliveryLatencyFastBurn")]), 8, 8),
        (timeseries("group_send fan-out size", [
            (f"histogram_quantile(0.5, sum by (layer, le) (rate("
             f"fast_channels_layer_group_send_fanout_bucket{{{LAYER}}}[{RATE}])))",
             "p50 {{layer}}"),
            (f"histogram_quantile(0.99, sum by (layer, le) (rate("
             f"fast_channels_layer_group_send_fanout_bucket{{{LAYER}}}[{RATE}])))",
             "p99 {{layer}}"),
        ], "short", "Recipients per group_send."), 8, 8),
    ]  # fmt: skip


def backlog_and_drops() -> list[tuple[JSON, int, int]]:
    return [
        (timeseries("Backlog per pod (local buffer, Redis)", [
            (f"sum by (pod, instance, layer, where) (fast_channels_layer_queue_depth{{{LAYER}}})",
             "{{pod}} {{instance}} {{layer}} {{where}}")], "short",
            "Messages waiting: where=local in the process for its sockets, where=redis in Redis "
            "for the process.", lines=[line("FastChannelsBacklogGrowing")]), 8, 8),
        (timeseries("Dropped messages by reason", [
            (f"sum by (layer, reason) (rate(fast_channels_layer_messages_dropped_total"
             f"{{{LAYER}}}[{RATE}]))", "{{layer}} {{reason}}")], "ops",
            "Drops per second. released and unknown_channel come from sockets closing; expired, "
            "channel_full and undecodable are lost messages.",
            lines=[line("FastChannelsMessagesDropped")]), 8, 8),
        (timeseries("Refused: channel full", [
            (f"sum by (layer, op) (rate(fast_channels_layer_channel_full_total{{{LAYER}}}"
             f"[{RATE}]))", "{{layer}} {{op}}")], "ops",
            "Messages refused because the target channel was at capacity, per second.",
            lines=[line("FastChannelsChannelFull")]), 8, 8),
    ]  # fmt: skip


def errors() -> list[tuple[JSON, int, int]]:
    return [
        (timeseries("Redis errors", [
            (f"sum by (layer, op) (rate(fast_channels_layer_redis_errors_total{{{LAYER}}}"
             f"[{RATE}]))", "{{layer}} {{op}}")], "ops",
            "Failed Redis calls per second.", lines=[line("FastChannelsRedisErrors")]), 8, 8),
        (timeseries("Handler latency p99", [
            (f"histogram_quantile(0.99, sum by (consumer, handler, le) (rate("
             f"fast_channels_consumer_handler_duration_seconds_bucket{{{CONSUMER}}}[{RATE}])))",
             "{{consumer}}.{{handler}}")], "s", "99th percentile time spent in each handler."),
         8, 8),
        (timeseries("Handler error ratio", [
            (f"sum by (consumer, handler) (rate(fast_channels_consumer_errors_total{{{CONSUMER}}}"
             f"[{RATE}])) / sum by (consumer, handler) (rate("
             f"fast_channels_consumer_handler_duration_seconds_count{{{CONSUMER}}}[{RATE}]))",
             "{{consumer}}.{{handler}}")], "percentunit",
            "Share of handler calls that raised.", lines=[line("FastChannelsConsumerErrors")]),
         8, 8),
    ]  # fmt: skip


def per_pod() -> list[tuple[JSON, int, int]]:
    return [
        (timeseries("Targets up", [
            (f'up{{{SCRAPE_JOB}, {POD}}}', "{{pod}} {{instance}}")], "short",
            "1 when Prometheus scraped the pod's /metrics."), 6, 8),
        (timeseries("Open sockets per pod", [
            (f"sum by (pod, instance) (fast_channels_websocket_connections{{{CONSUMER}}})",
             "{{pod}} {{instance}}")], "short", "Open WebSocket connections per pod."), 6, 8),
        (timeseries("Frames out per pod", [
            (f'sum by (pod, instance) (rate(fast_channels_websocket_messages_total{{{CONSUMER}, '
             f'direction="out"}}[{RATE}]))', "{{pod}} {{instance}}")], "ops",
            "Frames sent to clients per second, per pod."), 6, 8),
        (timeseries("Delivery latency p99 per pod", [
            (f"histogram_quantile(0.99, sum by (pod, instance, le) (rate({LATENCY}_bucket"
             f"{{{LAYER}}}[{RATE}])))", "{{pod}} {{instance}}")], "s",
            "99th percentile delivery latency (all ops) per receiving pod.",
            lines=[line("FastChannelsFanoutLatencyHigh")]), 6, 8),
    ]  # fmt: skip


def build() -> JSON:
    sections = [
        ("Connections", connections()),
        ("Messages", messages()),
        ("HTTP consumers", http()),
        ("Fan-out", fanout()),
        ("Backlog and drops", backlog_and_drops()),
        ("Errors and handlers", errors()),
        ("Per pod", per_pod()),
        ("Recovery (reconnecting clients)", recovery.panels()),
    ]
    return dashboard(
        "fast-channels-overview", "fast_channels overview", variables(), layout(sections)
    )
