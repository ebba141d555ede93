"""AsyncHttpConsumer and HttpCommunicator (1.1.0), driven without a server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from fast_channels.consumer.http import AsyncHttpConsumer
from fast_channels.layers import (
    InMemoryChannelLayer,
    get_channel_layer,
    register_channel_layer,
    unregister_channel_layer,
)
from fast_channels.testing import HttpCommunicator
from tests.compat.http_app import Events, Hello, LongPoll


@pytest.fixture(autouse=True)
def http_layer() -> Iterator[None]:
    register_channel_layer("http-compat", InMemoryChannelLayer())
    yield
    unregister_channel_layer("http-compat")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"fast_channels_{name}", labels) or 0.0


async def publish(kind: str, text: str) -> None:
    layer = get_channel_layer("http-compat")
    assert layer is not None
    await layer.group_send("news", {"type": kind, "text": text})


async def wait_members(count: int) -> None:
    layer = get_channel_layer("http-compat")
    for _ in range(200):
        if len(getattr(layer, "groups", {}).get("news", {})) >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the consumers did not join the group")


async def test_a_plain_response() -> None:
    communicator = HttpCommunicator(Hello.as_asgi(), "/hello", method="POST", body=b"you")
    await communicator.send_request()
    response = await communicator.get_response()
    assert response["status"] == 200
    assert response["body"] == b"hello you"
    assert (b"content-type", b"text/plain") in response["headers"]
    assert await communicator.wait() is True


async def test_a_body_in_chunks_is_joined() -> None:
    communicator = HttpCommunicator(Hello.as_asgi(), "/hello", method="POST", body=b"a")
    await communicator.send_request(more_body=True)
    communicator.body = b"b"
    await communicator.send_request()
    assert (await communicator.get_response())["body"] == b"hello ab"


async def test_long_poll_answers_with_the_next_layer_message() -> None:
    communicator = HttpCommunicator(LongPoll.as_asgi(), "/poll")
    start = await communicator.get_response_start()
    assert start["status"] == 200
    assert await communicator.get_body_chunk() == b""
    await wait_members(1)
    await publish("news.item", "first")
    assert json.loads(await communicator.get_body_chunk()) == {"text": "first"}
    assert await communicator.wait() is True  # the response is complete: the consumer ended


async def test_server_sent_events_stream_layer_messages() -> None:
    communicator = HttpCommunicator(Events.as_asgi(), "/events")
    await communicator.get_response_start()
    assert await communicator.get_body_chunk() == b": ready\n\n"
    await wait_members(1)
    await publish("news.item", "one")
    await publish("news.item", "two")
    assert await communicator.get_body_chunk() == b"data: one\n\n"
    assert await communicator.get_body_chunk() == b"data: two\n\n"
    await publish("news.end", "")
    assert await communicator.get_body_chunk() == b""
    assert await communicator.wait() is True


async def test_a_client_gone_ends_the_consumer_and_disconnect_runs_once() -> None:
    calls: list[str] = []

    class Tracked(LongPoll):
        async def disconnect(self) -> None:
            calls.append("disconnect")

    communicator = HttpCommunicator(Tracked.as_asgi(), "/poll")
    await communicator.get_response_start()
    await communicator.get_body_chunk()
    await communicator.disconnect()
    assert calls == ["disconnect"]
    layer = get_channel_layer("http-compat")
    assert not getattr(layer, "groups", {}).get("news")  # its membership went with it


async def test_requests_are_counted_by_status_class() -> None:
    before_ok = sample("http_responses_total", consumer="Hello", status="2xx")
    communicator = HttpCommunicator(Hello.as_asgi(), "/hello", method="POST")
    await communicator.get_response()
    await communicator.wait()
    assert sample("http_responses_total", consumer="Hello", status="2xx") == before_ok + 1
    assert sample("http_requests", consumer="Hello") == 0
    assert (
        sample("consumer_handler_duration_seconds_count", consumer="Hello", handler="http_request")
        >= 1
    )


async def test_an_open_long_poll_is_in_the_requests_gauge() -> None:
    communicator = HttpCommunicator(LongPoll.as_asgi(), "/poll")
    await communicator.get_response_start()
    before = sample("http_responses_total", consumer="LongPoll", status="2xx")
    assert sample("http_requests", consumer="LongPoll") == 1
    await communicator.disconnect()
    assert sample("http_requests", consumer="LongPoll") == 0
    assert sample("http_responses_total", consumer="LongPoll", status="2xx") == before + 1


async def test_send_body_before_headers_is_a_clear_error() -> None:
    class Broken(AsyncHttpConsumer):
        async def handle(self, body: bytes) -> None:
            await self.send_body(b"x")

    communicator = HttpCommunicator(Broken.as_asgi(), "/")
    await communicator.send_request()
    with pytest.raises(RuntimeError, match=r"send_headers\(\) before send_body\(\)"):
        await communicator.wait()


async def test_a_websocket_scope_is_refused() -> None:
    communicator = HttpCommunicator(Hello.as_asgi(), "/")
    communicator.scope["type"] = "websocket"
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match='serves "http" scopes'):
        await communicator.wait()
