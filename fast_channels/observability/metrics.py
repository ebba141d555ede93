"""The Prometheus metrics catalogue (see README "Observability").

Label values are bounded: consumer class names, handler method names, layer aliases and small
enums. Channel and group names never become labels.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from fast_channels.observability.batching import Flusher

# Before any metric: a collect of the registry then flushes batched updates before reading.
REGISTRY.register(Flusher())

PREFIX = "fast_channels_"

# 0.5 ms … 10 s, roughly x2.5 per step: fan-out latency lives in the low milliseconds.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
SIZE_BUCKETS = (16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)
FANOUT_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)

websocket_connections = Gauge(
    PREFIX + "websocket_connections",
    "Open WebSocket connections.",
    ["consumer"],
    multiprocess_mode="livesum",
)
websocket_connections_opened = Counter(
    PREFIX + "websocket_connections_opened",
    "WebSocket connections accepted.",
    ["consumer"],
)
websocket_connections_closed = Counter(
    PREFIX + "websocket_connections_closed",
    "WebSocket connections ended, by reason (normal, going_away, error, denied, ...).",
    ["consumer", "reason"],
)
websocket_messages = Counter(
    PREFIX + "websocket_messages",
    "WebSocket frames, by direction (in, out).",
    ["consumer", "direction"],
)
websocket_message_bytes = Histogram(
    PREFIX + "websocket_message_bytes",
    "WebSocket frame sizes in bytes, by direction (in, out).",
    ["consumer", "direction"],
    buckets=SIZE_BUCKETS,
)
http_requests = Gauge(
    PREFIX + "http_requests",
    "HTTP requests being answered by consumers (long-polls and event streams held open).",
    ["consumer"],
    multiprocess_mode="livesum",
)
http_responses = Counter(
    PREFIX + "http_responses",
    "HTTP consumer requests ended, by response status class (2xx ... 5xx; none: ended "
    "before a response started).",
    ["consumer", "status"],
)
http_response_bytes = Histogram(
    PREFIX + "http_response_bytes",
    "HTTP consumer response body chunk sizes in bytes.",
    ["consumer"],
    buckets=SIZE_BUCKETS,
)
consumer_handler_duration = Histogram(
    PREFIX + "consumer_handler_duration_seconds",
    "Time spent in a consumer handler.",
    ["consumer", "handler"],
    buckets=LATENCY_BUCKETS,
)
consumer_errors = Counter(
    PREFIX + "consumer_errors",
    "Exceptions raised by consumer handlers.",
    ["consumer", "handler"],
)
layer_messages_sent = Counter(
    PREFIX + "layer_messages_sent",
    "Messages accepted by a layer, by operation (send, group_send).",
    ["layer", "op"],
)
layer_messages_received = Counter(
    PREFIX + "layer_messages_received",
    "Messages handed to a receiver, by the operation that sent them.",
    ["layer", "op"],
)
layer_delivery_latency = Histogram(
    PREFIX + "layer_delivery_latency_seconds",
    "From send/group_send to the receiving handler's start, measured by the receiver.",
    ["layer", "op"],
    buckets=LATENCY_BUCKETS,
)
layer_group_send_fanout = Histogram(
    PREFIX + "layer_group_send_fanout",
    "Recipients of one group_send.",
    ["layer"],
    buckets=FANOUT_BUCKETS,
)
layer_groups = Gauge(
    PREFIX + "layer_groups",
    "Groups with at least one member in this process.",
    ["layer"],
    multiprocess_mode="livesum",
)
layer_group_members = Gauge(
    PREFIX + "layer_group_members",
    "Group memberships held by channels of this process.",
    ["layer"],
    multiprocess_mode="livesum",
)
layer_queue_depth = Gauge(
    PREFIX + "layer_queue_depth",
    "Messages waiting: where=local (buffered in this process), where=redis (backlog in Redis).",
    ["layer", "where"],
    multiprocess_mode="livesum",
)
layer_channel_full = Counter(
    PREFIX + "layer_channel_full",
    "Messages refused because the target channel was at capacity, by operation.",
    ["layer", "op"],
)
layer_messages_dropped = Counter(
    PREFIX + "layer_messages_dropped",
    "Messages dropped, by reason (expired, channel_full, undecodable, released).",
    ["layer", "reason"],
)
layer_group_members_reaped = Counter(
    PREFIX + "layer_group_members_reaped",
    "Group memberships removed by the layer, by reason (process_dead: its process stopped "
    "renewing its lease).",
    ["layer", "reason"],
)
layer_messages_redelivered = Counter(
    PREFIX + "layer_messages_redelivered",
    "Messages delivered again (delivery='at_least_once'): their receiver died or gave them back.",
    ["layer"],
)
layer_redis_errors = Counter(
    PREFIX + "layer_redis_errors",
    "Redis calls that failed, by operation.",
    ["layer", "op"],
)
layer_reconnects = Counter(
    PREFIX + "layer_reconnects",
    "Reconnections to Redis after a lost connection, by operation.",
    ["layer", "op"],
)
layer_subscriber_disconnects = Counter(
    PREFIX + "layer_subscriber_disconnects",
    "Subscribed pub/sub connections that ended, by reason (closed_by_redis, connection_lost): "
    "what Redis held for them was lost, how many messages is unknown.",
    ["layer", "reason"],
)
layer_history_messages = Gauge(
    PREFIX + "layer_history_messages",
    'Messages kept as group history by a layer (README "Recovery"), set when scraped.',
    ["layer"],
    multiprocess_mode="livesum",
)

# Recovery (README "Recovery"): per process, no consumer, group or channel label.
RECOVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
recoveries = Counter(
    PREFIX + "recoveries",
    "Joins of a group by a client that sent its position there, by outcome: complete (every "
    "message after it replayed) or incomplete (history trimmed, epoch changed, no history).",
    ["outcome"],
)
# Both outcomes at zero from the start: an alert's rate() sees the first incomplete recovery.
RECOVERY_OUTCOMES = ("complete", "incomplete")
for _outcome in RECOVERY_OUTCOMES:
    recoveries.labels(_outcome)
recovery_replayed_messages = Counter(
    PREFIX + "recovery_replayed_messages",
    "Messages replayed to clients from group history.",
)
recovery_duplicates_skipped = Counter(
    PREFIX + "recovery_duplicates_skipped",
    "Live group messages not handled because they had been replayed already.",
)
recovery_invalid_requests = Counter(
    PREFIX + "recovery_invalid_requests",
    "Handshakes whose ?recover= could not be read (ignored: the client joins fresh).",
)
recovery_seconds = Histogram(
    PREFIX + "recovery_seconds",
    "From a WebSocket's connect event to the last replayed message of a recovery sent.",
    buckets=RECOVERY_BUCKETS,
)
layer_presence_entries = Gauge(
    PREFIX + "layer_presence_entries",
    "Presence entries held by channels of this process (layer.presence_join).",
    ["layer"],
    multiprocess_mode="livesum",
)
layer_presence_events = Counter(
    PREFIX + "layer_presence_events",
    "Presence events this process sent, by event (join, leave).",
    ["layer", "event"],
)
layer_presence_reaped = Counter(
    PREFIX + "layer_presence_reaped",
    "Presence entries of dead processes (lease ended) removed by this process.",
    ["layer"],
)
