"""Each metric checked by value after a known workload."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import REGISTRY

from fast_channels.consumer import AsyncJsonWebsocketConsumer
from fast_channels.exceptions import ChannelFull
from fast_channels.layers import InMemoryChannelLayer
from fast_channels.testing import WebsocketCommunicator


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Gauged(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "default"
    groups = ["gauged"]

    async def note(self, event: dict[str, Any]) -> None:
        await self.send_json(event["n"])


async def test_three_sockets_make_the_connection_gauge_three(
    memory_layer: InMemoryChannelLayer,
) -> None:
    opened = sample("fast_channels_websocket_connections_opened_total", consumer="Gauged")
    clients = [WebsocketCommunicator(Gauged.as_asgi(), "/") for _ in range(3)]
    for client in clients:
        await client.connect()
    assert sample("fast_channels_websocket_connections", consumer="Gauged") == 3
    assert sample("fast_channels_layer_groups", layer="default") == 1
    assert sample("fast_channels_layer_group_members", layer="default") == 3
    for client in clients:
        await client.disconnect()
    assert sample("fast_channels_websocket_connections", consumer="Gauged") == 0
    assert sample("fast_channels_layer_group_members", layer="default") == 0
    assert sample("fast_channels_websocket_connections_opened_total", consumer="Gauged") == (
        opened + 3
    )
    assert (
        sample(
            "fast_channels_websocket_connections_closed_total", consumer="Gauged", reason="normal"
        )
        >= 3
    )


async def test_group_send_to_five_observes_fanout_five_and_five_latencies(
    memory_layer: InMemoryChannelLayer,
) -> None:
    fanout_sum = sample("fast_channels_layer_group_send_fanout_sum", layer="default")
    fanout_count = sample("fast_channels_layer_group_send_fanout_count", layer="default")
    latency = "fast_channels_layer_delivery_latency_seconds_count"
    latencies = sample(latency, layer="default", op="group_send")
    received = sample(
        "fast_channels_layer_messages_received_total", layer="default", op="group_send"
    )
    clients = [WebsocketCommunicator(Gauged.as_asgi(), "/") for _ in range(5)]
    for client in clients:
        await client.connect()
    await memory_layer.group_send("gauged", {"type": "note", "n": 7})
    for client in clients:
        assert await client.receive_json_from() == 7
    assert sample("fast_channels_layer_group_send_fanout_sum", layer="default") == fanout_sum + 5
    assert (
        sample("fast_channels_layer_group_send_fanout_count", layer="default") == fanout_count + 1
    )
    assert sample(latency, layer="default", op="group_send") == latencies + 5
    assert (
        sample("fast_channels_layer_messages_received_total", layer="default", op="group_send")
        == received + 5
    )
    for client in clients:
        await client.disconnect()


async def test_a_full_channel_counts_once(memory_layer: InMemoryChannelLayer) -> None:
    layer = InMemoryChannelLayer(capacity=1)
    layer.bind_alias("tiny")
    before = sample("fast_channels_layer_channel_full_total", layer="tiny", op="send")
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "a"})
    with pytest.raises(ChannelFull):
        await layer.send(channel, {"type": "b"})
    assert sample("fast_channels_layer_channel_full_total", layer="tiny", op="send") == before + 1


async def test_local_queue_depth_is_read_at_scrape_time() -> None:
    layer = InMemoryChannelLayer()
    layer.bind_alias("depth")
    channel = await layer.new_channel()
    for index in range(4):
        await layer.send(channel, {"type": "m", "n": index})
    await layer.refresh_backlog()  # what GET /metrics does for every registered layer
    assert sample("fast_channels_layer_queue_depth", layer="depth", where="local") == 4
    await asyncio.wait_for(layer.receive(channel), 1)
    await layer.refresh_backlog()
    assert sample("fast_channels_layer_queue_depth", layer="depth", where="local") == 3
    await layer.release_channel(channel)
    await layer.refresh_backlog()
    assert sample("fast_channels_layer_queue_depth", layer="depth", where="local") == 0
    assert (
        sample("fast_channels_layer_messages_dropped_total", layer="depth", reason="released") >= 3
    )


async def test_expired_messages_are_counted_as_dropped() -> None:
    layer = InMemoryChannelLayer(expiry=0.1)
    layer.bind_alias("expiring")
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "old"})
    await asyncio.sleep(0.2)
    await layer.send(channel, {"type": "new"})
    assert (await asyncio.wait_for(layer.receive(channel), 1))["type"] == "new"
    assert (
        sample("fast_channels_layer_messages_dropped_total", layer="expiring", reason="expired")
        == 1
    )


async def test_handler_duration_and_frame_counters(memory_layer: InMemoryChannelLayer) -> None:
    handler = {"consumer": "Gauged", "handler": "websocket_receive"}
    calls = sample("fast_channels_consumer_handler_duration_seconds_count", **handler)
    frames_in = sample("fast_channels_websocket_messages_total", consumer="Gauged", direction="in")
    client = WebsocketCommunicator(Gauged.as_asgi(), "/")
    await client.connect()
    await client.send_json_to({"hello": 1})
    await client.send_json_to({"hello": 2})
    await client.disconnect()
    assert sample("fast_channels_consumer_handler_duration_seconds_count", **handler) == calls + 2
    assert sample("fast_channels_websocket_messages_total", consumer="Gauged", direction="in") == (
        frames_in + 2
    )


def test_registering_renames_the_series_and_leaves_no_phantom_layer() -> None:
    layer = InMemoryChannelLayer()
    assert layer.metrics.alias == "InMemoryChannelLayer"  # used before it is registered
    assert (
        REGISTRY.get_sample_value(
            "fast_channels_layer_channel_full_total",
            {"layer": "InMemoryChannelLayer", "op": "send"},
        )
        is not None
    )
    layer.bind_alias("renamed")
    layers = {
        sample.labels.get("layer")
        for metric in REGISTRY.collect()
        if metric.name.startswith("fast_channels_layer_")
        for sample in metric.samples
    }
    assert "renamed" in layers
    assert "InMemoryChannelLayer" not in layers


def test_error_and_drop_counters_exist_at_zero_before_anything_happens() -> None:
    layer = InMemoryChannelLayer()
    layer.bind_alias("fresh")
    for reason in ("expired", "channel_full", "undecodable", "released"):
        assert (
            REGISTRY.get_sample_value(
                "fast_channels_layer_messages_dropped_total", {"layer": "fresh", "reason": reason}
            )
            == 0
        )
    for op in ("send", "group_send"):
        assert (
            REGISTRY.get_sample_value(
                "fast_channels_layer_channel_full_total", {"layer": "fresh", "op": op}
            )
            == 0
        )
    assert (
        REGISTRY.get_sample_value(
            "fast_channels_layer_reconnects_total", {"layer": "fresh", "op": "receive"}
        )
        == 0
    )
