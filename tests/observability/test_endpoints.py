from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from fast_channels.drain import drain_state
from fast_channels.layers import InMemoryChannelLayer
from fast_channels.service import add_observability_endpoints


@pytest.fixture
async def client(memory_layer: InMemoryChannelLayer) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette()
    add_observability_endpoints(app, timeout=0.5)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_healthz_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


async def test_readyz_lists_the_layers_it_checked(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "layers": ["default"]}


async def test_readyz_is_503_while_draining(client: httpx.AsyncClient) -> None:
    drain_state.draining = True
    try:
        response = await client.get("/readyz")
    finally:
        drain_state.reset()
    assert response.status_code == 503
    assert response.json()["status"] == "draining"


async def test_metrics_is_prometheus_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE fast_channels_websocket_connections gauge" in response.text
    assert "fast_channels_layer_delivery_latency_seconds_bucket" in response.text
