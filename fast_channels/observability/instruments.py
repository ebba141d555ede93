"""Label-bound metric children, resolved once per layer or consumer class, not per message."""

from __future__ import annotations

import os
import time
from typing import Any

from fast_channels.observability import metrics as m

# FAST_CHANNELS_METRICS=0 turns every instrument into a no-op (to measure their cost).
ENABLED = os.environ.get("FAST_CHANNELS_METRICS", "1").lower() not in ("0", "false", "no")


class _NoOp:
    """Stands in for a metric child when metrics are disabled."""

    def inc(self, amount: float = 1) -> None: ...
    def dec(self, amount: float = 1) -> None: ...
    def set(self, value: float) -> None: ...
    def observe(self, amount: float) -> None: ...


_NOOP = _NoOp()


def _child(metric: Any, *labels: str) -> Any:
    return metric.labels(*labels) if ENABLED else _NOOP


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
        self._sent = {op: _child(m.layer_messages_sent, alias, op) for op in ("send", "group_send")}
        self._received = {
            op: _child(m.layer_messages_received, alias, op) for op in ("send", "group_send")
        }
        self._latency = {
            op: _child(m.layer_delivery_latency, alias, op) for op in ("send", "group_send")
        }
        self.fanout = _child(m.layer_group_send_fanout, alias)
        self.groups = _child(m.layer_groups, alias)
        self.group_members = _child(m.layer_group_members, alias)
        self.local_depth = _child(m.layer_queue_depth, alias, "local")
        self.redis_depth = _child(m.layer_queue_depth, alias, "redis")

    def sent(self, op: str, count: int = 1) -> None:
        self._sent[op].inc(count)

    def received(self, op: str, sent_at: float | None) -> None:
        self._received[op].inc()
        if sent_at is not None:
            # Clocks of different hosts may disagree by a little: never observe a negative.
            self._latency[op].observe(max(0.0, time.time() - sent_at))

    def channel_full(self, op: str, count: int = 1) -> None:
        _child(m.layer_channel_full, self.alias, op).inc(count)

    def dropped(self, reason: str, count: int = 1) -> None:
        _child(m.layer_messages_dropped, self.alias, reason).inc(count)

    def redis_error(self, op: str) -> None:
        _child(m.layer_redis_errors, self.alias, op).inc()

    def reconnect(self, op: str) -> None:
        _child(m.layer_reconnects, self.alias, op).inc()


class ConsumerInstruments:
    """The metrics of one consumer class."""

    def __init__(self, consumer: str) -> None:
        self.consumer = consumer
        self.connections = _child(m.websocket_connections, consumer)
        self.opened = _child(m.websocket_connections_opened, consumer)
        self.messages_in = _child(m.websocket_messages, consumer, "in")
        self.messages_out = _child(m.websocket_messages, consumer, "out")
        self.bytes_in = _child(m.websocket_message_bytes, consumer, "in")
        self.bytes_out = _child(m.websocket_message_bytes, consumer, "out")
        self._handlers: dict[str, tuple[Any, Any]] = {}

    def handler(self, name: str) -> tuple[Any, Any]:
        children = self._handlers.get(name)
        if children is None:
            children = (
                _child(m.consumer_handler_duration, self.consumer, name),
                _child(m.consumer_errors, self.consumer, name),
            )
            self._handlers[name] = children
        return children

    def closed(self, code: int | None) -> None:
        _child(m.websocket_connections_closed, self.consumer, close_reason(code)).inc()


_consumers: dict[str, ConsumerInstruments] = {}


def consumer_instruments(consumer: str) -> ConsumerInstruments:
    """The instruments of a consumer class, by name (the `consumer` label)."""
    instruments = _consumers.get(consumer)
    if instruments is None:
        instruments = _consumers[consumer] = ConsumerInstruments(consumer)
    return instruments
