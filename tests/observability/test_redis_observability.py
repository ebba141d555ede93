"""Observability of the Redis layers, against real redis-servers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fast_channels.consumer import AsyncJsonWebsocketConsumer
from fast_channels.layers import channel_layers, register_channel_layer
from fast_channels.layers.redis import RedisChannelLayer
from fast_channels.service import add_observability_endpoints
from fast_channels.testing import WebsocketCommunicator
from tests.support.redis_server import RedisServer


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Listener(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "receiving"
    groups = ["bulletin"]

    async def bulletin_post(self, event: dict[str, Any]) -> None:
        await self.send_json(event["text"])


@pytest.fixture
async def two_instances(
    redis_server: RedisServer,
) -> AsyncIterator[tuple[RedisChannelLayer, RedisChannelLayer]]:
    """Two layer instances on one Redis, as two processes would have."""
    prefix = f"obs-{uuid.uuid4().hex[:6]}"
    sending = RedisChannelLayer(hosts=[redis_server.url], prefix=prefix)
    receiving = RedisChannelLayer(hosts=[redis_server.url], prefix=prefix)
    register_channel_layer("sending", sending)
    register_channel_layer("receiving", receiving)
    yield sending, receiving
    channel_layers.unregister("sending")
    channel_layers.unregister("receiving")
    await receiving.flush()
    await sending.close()
    await receiving.close()


async def test_an_http_triggered_group_send_is_traced_into_the_other_instance(
    spans: InMemorySpanExporter, two_instances: tuple[RedisChannelLayer, RedisChannelLayer]
) -> None:
    sending, _ = two_instances
    tracer = trace.get_tracer("test.http")

    async def post(request: Request) -> JSONResponse:
        with tracer.start_as_current_span("POST /bulletin") as span:
            await sending.group_send("bulletin", {"type": "bulletin.post", "text": "hello"})
            return JSONResponse({"trace_id": format(span.get_span_context().trace_id, "032x")})

    client = WebsocketCommunicator(Listener.as_asgi(), "/ws")
    await client.connect()
    transport = httpx.ASGITransport(
        app=Starlette(routes=[Route("/bulletin", post, methods=["POST"])])
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        trace_id = (await http.post("/bulletin")).json()["trace_id"]
    assert await client.receive_json_from(timeout=3) == "hello"
    await client.disconnect()

    handler = next(s for s in spans.get_finished_spans() if s.name == "Listener.bulletin_post")
    producer = next(s for s in spans.get_finished_spans() if s.name == "group_send sending")
    assert format(handler.context.trace_id, "032x") == trace_id
    assert handler.parent is not None
    assert handler.parent.span_id == producer.context.span_id


async def test_redis_down_is_counted_readyz_503_and_metrics_still_answer(
    own_redis_server: RedisServer,
) -> None:
    layer = RedisChannelLayer(hosts=[own_redis_server.url], prefix="down", socket_timeout=0.5)
    register_channel_layer("fragile", layer)
    app = Starlette()
    add_observability_endpoints(app, timeout=0.5)
    transport = httpx.ASGITransport(app=app)
    try:
        channel = await layer.new_channel()
        receiving = asyncio.create_task(layer.receive(channel))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            assert (await http.get("/readyz")).status_code == 200
            errors_before = sample(
                "fast_channels_layer_redis_errors_total", layer="fragile", op="backlog"
            )
            reconnects_before = sum(
                sample("fast_channels_layer_reconnects_total", layer="fragile", op=op)
                for op in ("receive", "pop", "blpop")
            )
            own_redis_server.stop()
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["status"] == "unavailable"
            assert "fragile" in ready.json()["failing"]
            # A dead Redis never hangs a scrape: the backlog check gives up after its 0.5 s
            # timeout. A liveness bound, not a speed claim (on a loaded machine rendering the
            # session's registry alone can take seconds).
            metrics = await asyncio.wait_for(http.get("/metrics"), timeout=15)
            assert metrics.status_code == 200
            assert (
                sample("fast_channels_layer_redis_errors_total", layer="fragile", op="backlog")
                == errors_before + 1
            )
            await asyncio.sleep(1.5)  # the receive loop notices and retries with backoff
            redis_errors = sum(
                s.value
                for metric in REGISTRY.collect()
                if metric.name == "fast_channels_layer_redis_errors"
                for s in metric.samples
                if s.labels.get("layer") == "fragile" and s.name.endswith("_total")
            )
            assert redis_errors >= 2
            own_redis_server.start()
            await layer.send(channel, {"type": "back"})
            assert (await asyncio.wait_for(receiving, 5))["type"] == "back"
            reconnects = sum(
                s.value
                for metric in REGISTRY.collect()
                if metric.name == "fast_channels_layer_reconnects"
                for s in metric.samples
                if s.labels.get("layer") == "fragile" and s.name.endswith("_total")
            )
            assert reconnects >= reconnects_before + 1
            assert (await http.get("/readyz")).status_code == 200
    finally:
        channel_layers.unregister("fragile")
        await layer.close()


async def test_backlog_gauge_reads_redis_at_scrape_time(redis_server: RedisServer) -> None:
    layer = RedisChannelLayer(hosts=[redis_server.url], prefix=f"bk-{uuid.uuid4().hex[:6]}")
    register_channel_layer("backlogged", layer)
    app = Starlette()
    add_observability_endpoints(app)
    try:
        channel = await layer.new_channel()  # no receive yet: frames wait in Redis
        for index in range(7):
            await layer.send(channel, {"type": "m", "n": index})
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            await http.get("/metrics")
        assert sample("fast_channels_layer_queue_depth", layer="backlogged", where="redis") == 7
    finally:
        channel_layers.unregister("backlogged")
        await layer.flush()
        await layer.close()
