"""Label-bound metric children, resolved once per layer or consumer class, not per message."""

from __future__ import annotations

import contextlib
import functools
import os
import time
from typing import Any

from fast_channels.observability import metrics as m
from fast_channels.observability.batching import batched

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
    # Counters and histograms are updated per message: batched (see batching.py). A metric
    # without labels is its own child.
    if not ENABLED:
        return _NOOP
    return batched(metric.labels(*labels) if labels else metric)


def _counted_histogram(histogram: Any, counter: Any, *labels: str) -> tuple[Any, Any]:
    """A histogram child whose every observation also counts one on `counter`'s child (both
    with `labels`), and that counter's own stand-in, for what is counted without a value."""
    if not ENABLED:
        return _NOOP, _NOOP
    counter_child = counter.labels(*labels)
    return batched(histogram.labels(*labels), counts_into=counter_child), batched(counter_child)


CLOSE_REASONS = {
    1000: "normal",
    1001: "going_away",
    1002: "protocol_error",
    1003: "unsupported_data",
    1005: "normal",  # a close frame without a status code (a vanished client is 1006)
    1006: "abnormal",
    1007: "invalid_payload",
    1008: "policy_violation",
    1009: "message_too_big",
    1011: "error",
    1012: "service_restart",
    1013: "try_again_later",
    403: "denied",
}


def close_reason(code: int | None) -> str:
    """A bounded label value for a WebSocket close code."""
    if code is None:
        return "normal"
    return CLOSE_REASONS.get(code, "other")


# Every label value the layers use, created at zero when a layer starts: a counter whose series
# appears only at its first increment hides that increment from rate() and increase().
OPS = ("send", "group_send")
DROP_REASONS = ("expired", "channel_full", "undecodable", "released", "unknown_channel")
REDIS_OPS = (
    "send", "group_send", "group_add", "group_discard", "group_refresh", "receive",
    "subscribe", "flush", "backlog", "ack", "heartbeat", "presence",
)  # fmt: skip
REAP_REASONS = ("process_dead",)
PRESENCE_EVENTS = ("join", "leave")
RECONNECT_OPS = ("receive", "subscribe")
SUBSCRIBER_DISCONNECT_REASONS = ("closed_by_redis", "connection_lost")


class LayerInstruments:
    """The metrics of one layer alias."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._made: list[tuple[Any, tuple[str, ...]]] = []
        self._sent = {op: self._child(m.layer_messages_sent, op) for op in OPS}
        # op -> (delivery latency histogram counting into the received counter, the received
        # counter for deliveries without a send time): one lookup and one update per delivery.
        self._on_received = {
            op: self._counted(m.layer_delivery_latency, m.layer_messages_received, op) for op in OPS
        }
        self._channel_full = {op: self._child(m.layer_channel_full, op) for op in OPS}
        self._dropped = {r: self._child(m.layer_messages_dropped, r) for r in DROP_REASONS}
        self._redis_errors = {op: self._child(m.layer_redis_errors, op) for op in REDIS_OPS}
        self._reconnects = {op: self._child(m.layer_reconnects, op) for op in RECONNECT_OPS}
        self._subscriber_disconnects = {
            reason: self._child(m.layer_subscriber_disconnects, reason)
            for reason in SUBSCRIBER_DISCONNECT_REASONS
        }
        self._reaped = {r: self._child(m.layer_group_members_reaped, r) for r in REAP_REASONS}
        self.fanout = self._child(m.layer_group_send_fanout)
        self.redelivered = self._child(m.layer_messages_redelivered)
        self.groups = self._child(m.layer_groups)
        self.group_members = self._child(m.layer_group_members)
        self.local_depth = self._child(m.layer_queue_depth, "local")
        self.redis_depth = self._child(m.layer_queue_depth, "redis")
        self.history_messages = self._child(m.layer_history_messages)
        self._presence_children()

    def _presence_children(self) -> None:
        self.presence_entries = self._child(m.layer_presence_entries)
        self.presence_reaped = self._child(m.layer_presence_reaped)
        self._presence_events = {
            event: self._child(m.layer_presence_events, event) for event in PRESENCE_EVENTS
        }

    def _child(self, metric: Any, *labels: str) -> Any:
        self._made.append((metric, (self.alias, *labels)))
        return _child(metric, self.alias, *labels)

    def _counted(self, histogram: Any, counter: Any, *labels: str) -> tuple[Any, Any]:
        self._made += [(histogram, (self.alias, *labels)), (counter, (self.alias, *labels))]
        return _counted_histogram(histogram, counter, self.alias, *labels)

    def forget(self) -> None:
        """Remove this alias's series (a layer renamed by the registry must not linger under
        its old name)."""
        if not ENABLED or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Multiprocess mode cannot remove a series (prometheus_client warns and keeps it).
            return
        for metric, labels in self._made:
            # Already gone, e.g. removed by another instance with the same default alias.
            with contextlib.suppress(KeyError):
                metric.remove(*labels)

    def sent(self, op: str, count: int = 1) -> None:
        self._sent[op].inc(count)

    def received(self, op: str, sent_at: float | None) -> None:
        latency, received = self._on_received[op]
        if sent_at is None:
            received.inc()
        else:
            # Clocks of different hosts may disagree by a little: never observe a negative.
            lag = time.time() - sent_at
            latency.observe(lag if lag > 0.0 else 0.0)  # counts the delivery as received too

    def channel_full(self, op: str, count: int = 1) -> None:
        self._channel_full[op].inc(count)

    def dropped(self, reason: str, count: int = 1) -> None:
        child = self._dropped.get(reason)
        if child is None:
            child = self._dropped[reason] = self._child(m.layer_messages_dropped, reason)
        child.inc(count)

    def reaped(self, reason: str, count: int) -> None:
        self._reaped[reason].inc(count)

    def presence_event(self, event: str, count: int = 1) -> None:
        self._presence_events[event].inc(count)

    def redis_error(self, op: str) -> None:
        child = self._redis_errors.get(op)
        if child is None:
            child = self._redis_errors[op] = self._child(m.layer_redis_errors, op)
        child.inc()

    def subscriber_disconnected(self, reason: str) -> None:
        self._subscriber_disconnects[reason].inc()

    def reconnect(self, op: str) -> None:
        child = self._reconnects.get(op)
        if child is None:
            child = self._reconnects[op] = self._child(m.layer_reconnects, op)
        child.inc()


class HandlerInstruments:
    """The handler metrics of one consumer class."""

    def __init__(self, consumer: str) -> None:
        self.consumer = consumer
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


class ConsumerInstruments(HandlerInstruments):
    """The metrics of one websocket consumer class."""

    def __init__(self, consumer: str) -> None:
        super().__init__(consumer)
        self.connections = _child(m.websocket_connections, consumer)
        self.opened = _child(m.websocket_connections_opened, consumer)
        # A frame's size observed counts the frame too (websocket_messages_total): one update.
        self.bytes_in, self.messages_in = _counted_histogram(
            m.websocket_message_bytes, m.websocket_messages, consumer, "in"
        )
        self.bytes_out, self.messages_out = _counted_histogram(
            m.websocket_message_bytes, m.websocket_messages, consumer, "out"
        )
        self._closed: dict[str, Any] = {}

    def closed(self, code: int | None, reason: str | None = None) -> None:
        """Count a closed connection: `reason` when given (one of a few fixed values, e.g.
        "slow_consumer"), else the reason of its close code."""
        reason = reason or close_reason(code)
        child = self._closed.get(reason)
        if child is None:
            child = self._closed[reason] = _child(
                m.websocket_connections_closed, self.consumer, reason
            )
        child.inc()


class RecoveryInstruments:
    """The recovery metrics of this process (README "Recovery"): no labels but the outcome."""

    def __init__(self) -> None:
        self.outcomes = {o: _child(m.recoveries, o) for o in m.RECOVERY_OUTCOMES}
        self.replayed = _child(m.recovery_replayed_messages)
        self.duplicates = _child(m.recovery_duplicates_skipped)
        self.invalid = _child(m.recovery_invalid_requests)
        self.seconds = _child(m.recovery_seconds)


@functools.cache
def recovery_instruments() -> RecoveryInstruments:
    """The recovery metrics' children, made at the first join_group()."""
    return RecoveryInstruments()


STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "none")


def status_class(status: int | None) -> str:
    """A bounded label value for an HTTP status ("none": no response was started)."""
    if status is None:
        return "none"
    return f"{status // 100}xx" if 200 <= status < 600 else "none"


class HttpInstruments(HandlerInstruments):
    """The metrics of one HTTP consumer class."""

    def __init__(self, consumer: str) -> None:
        super().__init__(consumer)
        self.requests = _child(m.http_requests, consumer)
        self.body_bytes = _child(m.http_response_bytes, consumer)
        # Every status class at zero from the start, as the layers' counters (see OPS).
        self._responses = {cls: _child(m.http_responses, consumer, cls) for cls in STATUS_CLASSES}

    def responded(self, status: int | None) -> None:
        self._responses[status_class(status)].inc()


# One set per class name (the `consumer` label), made at its first use: functools.cache is
# the per-name memo (a class's series are made once, whatever number of instances).
@functools.cache
def http_instruments(consumer: str) -> HttpInstruments:
    """The instruments of an HTTP consumer class, by name (the `consumer` label)."""
    return HttpInstruments(consumer)


@functools.cache
def consumer_instruments(consumer: str) -> ConsumerInstruments:
    """The instruments of a consumer class, by name (the `consumer` label)."""
    return ConsumerInstruments(consumer)
