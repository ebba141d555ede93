"""OpenTelemetry spans through opentelemetry-api alone; near-zero cost when no SDK is set up.

The W3C `traceparent` of the sending span travels inside the layer envelope, so the handler span
in the receiving process (on any host) is a child of the span that sent the message.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

MESSAGING_SYSTEM = "fast_channels"
_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("fast_channels")

# Asking OpenTelemetry for its provider costs ~2 µs: decide at most once a second.
_RECHECK_SECONDS = 1.0
_state = {"enabled": False, "next_check": 0.0}


def tracing_enabled() -> bool:
    """True once an OpenTelemetry SDK (any real TracerProvider) is configured."""
    now = time.monotonic()
    if now >= _state["next_check"]:
        provider = trace.get_tracer_provider()
        _state["enabled"] = not isinstance(
            provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider
        )
        _state["next_check"] = now + _RECHECK_SECONDS
    return bool(_state["enabled"])


def refresh() -> None:
    """Re-read the tracer provider now (after configuring an SDK in tests or at start-up)."""
    _state["next_check"] = 0.0


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, for the layer envelope; None when not tracing."""
    if not tracing_enabled():
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def _span(name: str, kind: SpanKind, attributes: dict[str, Any], parent: Any) -> Iterator[None]:
    with _tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes):
        yield


def producer_span(operation: str, layer: str) -> Any:
    """A span around send/group_send. Destination names are unbounded: never attributes."""
    if not tracing_enabled():
        return nullcontext()
    attributes = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation": "publish",
        "messaging.operation.name": operation,
        "fast_channels.layer": layer,
    }
    return _span(f"{operation} {layer}", SpanKind.PRODUCER, attributes, None)


def handler_span(consumer: str, handler: str, traceparent: str | None) -> Any:
    """A span around one handler call, child of the sender's span when the message carried one."""
    if not tracing_enabled():
        return nullcontext()
    parent = _propagator.extract({"traceparent": traceparent}) if traceparent else None
    kind = SpanKind.CONSUMER if traceparent else SpanKind.INTERNAL
    attributes = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation": "process",
        "fast_channels.consumer": consumer,
        "fast_channels.handler": handler,
    }
    return _span(f"{consumer}.{handler}", kind, attributes, parent)


def connect_span(consumer: str, path: str | None) -> Any:
    """A span around the websocket handshake (connect())."""
    if not tracing_enabled():
        return nullcontext()
    attributes = {"fast_channels.consumer": consumer}
    if path is not None:
        attributes["url.path"] = path
    return _span(f"websocket connect {consumer}", SpanKind.SERVER, attributes, None)
