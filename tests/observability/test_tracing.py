from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fast_channels.consumer import AsyncJsonWebsocketConsumer
from fast_channels.layers import InMemoryChannelLayer
from fast_channels.observability import tracing
from fast_channels.testing import WebsocketCommunicator


class Traced(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "default"
    groups = ["traced"]

    async def news(self, event: dict[str, Any]) -> None:
        await self.send_json(event["headline"])


async def test_the_handler_span_is_a_child_of_the_sending_span(
    spans: InMemorySpanExporter, memory_layer: InMemoryChannelLayer
) -> None:
    client = WebsocketCommunicator(Traced.as_asgi(), "/ws/news")
    await client.connect()
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("http POST /broadcast") as request_span:
        await memory_layer.group_send("traced", {"type": "news", "headline": "hi"})
    assert await client.receive_json_from() == "hi"
    await client.disconnect()

    finished = {span.name: span for span in spans.get_finished_spans()}
    producer = finished["group_send default"]
    handler = finished["Traced.news"]
    trace_id = request_span.get_span_context().trace_id
    assert producer.context.trace_id == trace_id
    assert handler.context.trace_id == trace_id
    assert handler.parent is not None
    assert handler.parent.span_id == producer.context.span_id
    assert handler.attributes is not None
    assert handler.attributes["messaging.system"] == "fast_channels"
    assert handler.attributes["messaging.operation"] == "process"
    assert producer.attributes is not None
    assert producer.attributes["messaging.operation"] == "publish"
    # Group names are unbounded: they never become span attributes or names.
    assert all("traced" not in str(value) for value in producer.attributes.values())


async def test_connect_is_a_span(spans: InMemorySpanExporter) -> None:
    client = WebsocketCommunicator(Traced.as_asgi(), "/ws/news")
    Traced.channel_layer_alias = None  # type: ignore[misc]
    Traced.groups = []
    try:
        await client.connect()
        await client.disconnect()
    finally:
        Traced.channel_layer_alias = "default"  # type: ignore[misc]
        Traced.groups = ["traced"]
    names = [span.name for span in spans.get_finished_spans()]
    assert "websocket connect Traced" in names


def test_no_sdk_means_no_traceparent_and_no_spans() -> None:
    # With the SDK possibly installed by other tests we check the switch itself.
    tracing._state["enabled"] = False
    tracing._state["next_check"] = float("inf")
    try:
        assert tracing.current_traceparent() is None
        with tracing.producer_span("send", "x") as span:
            assert span is None  # a nullcontext: nothing is created
    finally:
        tracing.refresh()
