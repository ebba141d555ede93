"""Random text, bytes and JSON frames into the websocket consumers: the consumer answers or closes
with the documented code, counts the close, and never raises."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from fast_channels.consumer import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from fast_channels.observability.batching import flush
from fast_channels.observability.metrics import websocket_connections_closed
from fast_channels.testing import WebsocketCommunicator
from tests.fuzz.conftest import FUZZ

MAX_FRAME = 200  # small, so that the generators reach it often


def closes(consumer: str) -> dict[str, float]:
    """websocket_connections_closed_total of one consumer, by reason (reads only this metric:
    collecting the whole registry for every example would make the suite quadratic). Counts
    are batched in plain Python and reach the metric at a registry collect: flush them first."""
    flush()
    (family,) = websocket_connections_closed.collect()
    return {
        sample.labels["reason"]: sample.value
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["consumer"] == consumer
    }


class JsonEcho(AsyncJsonWebsocketConsumer):
    max_frame_size = MAX_FRAME

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_json(content)


class Echo(AsyncWebsocketConsumer):
    max_frame_size = MAX_FRAME

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data, bytes_data=bytes_data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
frames = st.one_of(
    st.text(max_size=300).map(lambda text: ("text", text)),
    json_values.map(lambda value: ("text", json.dumps(value))),
    st.sampled_from(['{"a":', "[1,", "{'a': 1}", "nul", '"\\ud800"', "1e99999", "\x00"]).map(
        lambda text: ("text", text)
    ),
    st.binary(max_size=300).map(lambda data: ("bytes", data)),
)


def expected_close(consumer: type[AsyncWebsocketConsumer], kind: str, data: Any) -> int | None:
    """The close code a frame must cause, or None if it must be answered."""
    size = len(data.encode()) if kind == "text" else len(data)
    if size > MAX_FRAME:
        return 1009
    if consumer is Echo:
        return None
    if kind == "bytes":
        return 1003
    try:
        json.loads(data)
    except ValueError:
        return 1007
    return None


REASONS = {1003: "unsupported_data", 1007: "invalid_payload", 1009: "message_too_big"}


async def exchange(consumer: type[AsyncWebsocketConsumer], batch: list[tuple[str, Any]]) -> None:
    # A class per example: its own `consumer` label, so the counts are this example's alone.
    cls = type(f"{consumer.__name__}{uuid.uuid4().hex[:8]}", (consumer,), {})
    communicator = WebsocketCommunicator(cls.as_asgi(), "/ws")
    assert (await communicator.connect())[0]
    code = None
    for kind, data in batch:
        if kind == "text":
            await communicator.send_to(text_data=data)
        else:
            await communicator.send_to(bytes_data=data)
        code = expected_close(consumer, kind, data)
        reply = await communicator.receive_output(timeout=2)
        if code is not None:
            assert reply["type"] == "websocket.close", (kind, data, reply)
            assert reply["code"] == code, (kind, data, reply)
            break
        assert reply["type"] == "websocket.send", (kind, data, reply)
        if consumer is JsonEcho:
            assert reply["text"] == json.dumps(json.loads(data))
        else:
            assert reply.get(kind) == data
    await communicator.disconnect(code=code or 1000)
    # The application ended without an exception (disconnect() re-raises one).
    assert communicator.future.done()
    assert communicator.future.exception() is None
    assert closes(cls.__name__) == {REASONS.get(code or 0, "normal"): 1.0}


@FUZZ
@given(batch=st.lists(frames, min_size=1, max_size=4))
def test_json_consumer_answers_or_closes_with_the_right_code(batch: list[tuple[str, Any]]) -> None:
    asyncio.run(exchange(JsonEcho, batch))


@FUZZ
@given(batch=st.lists(frames, min_size=1, max_size=4))
def test_plain_consumer_echoes_or_closes_with_1009(batch: list[tuple[str, Any]]) -> None:
    asyncio.run(exchange(Echo, batch))
