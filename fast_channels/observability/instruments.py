"""Label-bound metric children, resolved once per layer or consumer class, not per message."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram

from fast_channels.observability import metrics as m

CLOSE_REASONS = {
    1000: "normal",
    1001: "going_away",
    1003: "unsupported_data",
    1006: "abnormal",
    1007: "invalid_payload",
    1008: "policy_violation",
    1009: "message_too_big",
    1011: "error",
    1012: "service_restart",
    403: "denied",
}


def close_reason(code: int | None) -> str:
    """A bounded label value for a WebSocket close code."""
    if code is None:
        return "normal"
    return CLOSE_REASONS.get(code, "other")


class LayerInstruments:
    """The metrics of one layer alias."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._sent = {op: m.layer_messages_sent.labels(alias, op) for op in ("send", "group_send")}
        self._received = {
            op: m.layer_messages_received.labels(alias, op) for op in ("send", "group_send")
        }
        self._latency = {
            op: m.layer_delivery_latency.labels(alias, op) for op in ("send", "group_send")
        }
        self.fanout = m.layer_group_send_fanout.labels(alias)
        self.groups = m.layer_groups.labels(alias)
        self.group_members = m.layer_group_members.labels(alias)
        self.local_depth = m.layer_queue_depth.labels(alias, "local")
        self.redis_depth = m.layer_queue_depth.labels(alias, "redis")

    def sent(self, op: str, count: int = 1) -> None:
        self._sent[op].inc(count)

    def received(self, op: str, sent_at: float | None) -> None:
        self._received[op].inc()
        if sent_at is not None:
            # Clocks of different hosts may disagree by a little: never observe a negative.
            self._latency[op].observe(max(0.0, time.time() - sent_at))

    def channel_full(self, op: str, count: int = 1) -> None:
        m.layer_channel_full.labels(self.alias, op).inc(count)

    def dropped(self, reason: str, count: int = 1) -> None:
        m.layer_messages_dropped.labels(self.alias, reason).inc(count)

    def redis_error(self, op: str) -> None:
        m.layer_redis_errors.labels(self.alias, op).inc()

    def reconnect(self, op: str) -> None:
        m.layer_reconnects.labels(self.alias, op).inc()


class ConsumerInstruments:
    """The metrics of one consumer class."""

    def __init__(self, consumer: str) -> None:
        self.consumer = consumer
        self.connections = m.websocket_connections.labels(consumer)
        self.opened = m.websocket_connections_opened.labels(consumer)
        self.messages_in = m.websocket_messages.labels(consumer, "in")
        self.messages_out = m.websocket_messages.labels(consumer, "out")
        self.bytes_in = m.websocket_message_bytes.labels(consumer, "in")
        self.bytes_out = m.websocket_message_bytes.labels(consumer, "out")
        self._handlers: dict[str, tuple[Histogram, Counter]] = {}

    def handler(self, name: str) -> tuple[Histogram, Counter]:
        children = self._handlers.get(name)
        if children is None:
            children = (
                m.consumer_handler_duration.labels(self.consumer, name),
                m.consumer_errors.labels(self.consumer, name),
            )
            self._handlers[name] = children
        return children

    def closed(self, code: int | None) -> None:
        m.websocket_connections_closed.labels(self.consumer, close_reason(code)).inc()


_consumers: dict[str, ConsumerInstruments] = {}


def consumer_instruments(consumer: str) -> ConsumerInstruments:
    """The instruments of a consumer class, by name (the `consumer` label)."""
    instruments = _consumers.get(consumer)
    if instruments is None:
        instruments = _consumers[consumer] = ConsumerInstruments(consumer)
    return instruments
