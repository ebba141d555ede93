from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from fast_channels.exceptions import ChannelFull
from fast_channels.layers.buffer import Delivery
from tests.layers.conftest import LayerMaker


async def test_send_then_receive_on_a_new_channel(make_layer: LayerMaker) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "test.message", "text": "hello"})
    message = await asyncio.wait_for(layer.receive(channel), 2)
    assert message == {"type": "test.message", "text": "hello"}


async def test_messages_arrive_in_order(make_layer: LayerMaker) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    for index in range(10):
        await layer.send(channel, {"type": "seq", "n": index})
    received = [(await asyncio.wait_for(layer.receive(channel), 2))["n"] for _ in range(10)]
    assert received == list(range(10))


async def test_receiver_waiting_before_send_gets_the_message(make_layer: LayerMaker) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    waiting = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(0.05)
    await layer.send(channel, {"type": "late"})
    assert (await asyncio.wait_for(waiting, 2))["type"] == "late"


async def test_send_to_a_named_channel_is_kept_until_received(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    make_layer.require("send_to_unreceived")
    layer = await make_layer()
    channel = unique("worker")
    await layer.send(channel, {"type": "job", "id": 1})
    assert (await asyncio.wait_for(layer.receive(channel), 2))["id"] == 1


async def test_new_channels_are_unique_and_valid(make_layer: LayerMaker) -> None:
    layer = await make_layer()
    names = {await layer.new_channel() for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert name.startswith("specific.")
        assert layer.require_valid_channel_name(name)


async def test_new_channel_honours_the_prefix(make_layer: LayerMaker) -> None:
    layer = await make_layer()
    assert (await layer.new_channel("worker")).startswith("worker.")


async def test_the_receiver_cannot_mutate_what_the_sender_holds(make_layer: LayerMaker) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    sent = {"type": "m", "items": [1, 2]}
    await layer.send(channel, sent)
    sent["items"].append(3)
    received = await asyncio.wait_for(layer.receive(channel), 2)
    assert received["items"] == [1, 2]


async def test_a_cancelled_receive_loses_no_message(make_layer: LayerMaker) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    for _ in range(5):
        task = asyncio.create_task(layer.receive(channel))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await layer.send(channel, {"type": "survivor"})
    assert (await asyncio.wait_for(layer.receive(channel), 2))["type"] == "survivor"


async def test_cancel_racing_the_wake_up_loses_no_message(make_layer: LayerMaker) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    task = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(0.05)
    await layer.send(channel, {"type": "raced"})
    task.cancel()  # the wake-up may already be scheduled: the message must stay in the layer
    try:
        got = await task
    except asyncio.CancelledError:
        got = await asyncio.wait_for(layer.receive(channel), 2)
    assert got["type"] == "raced"


async def test_polling_a_new_channel_gives_a_waiter_then_the_delivery(
    make_layer: LayerMaker,
) -> None:
    # What consumers use: no coroutine per message.
    layer = await make_layer()
    channel = await layer.new_channel()
    waiter = layer.poll_delivery(channel)
    assert isinstance(waiter, asyncio.Future)
    assert not waiter.done()
    await layer.send(channel, {"type": "polled", "n": 1})
    await asyncio.wait_for(waiter, 2)
    delivery = layer.poll_delivery(channel)
    assert isinstance(delivery, Delivery)
    assert delivery.message == {"type": "polled", "n": 1}
    assert delivery.sent_at is not None


async def test_an_abandoned_poll_passes_its_wake_up_on(make_layer: LayerMaker) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    waiter = layer.poll_delivery(channel)
    assert isinstance(waiter, asyncio.Future)
    receiver = asyncio.create_task(layer.receive(channel))  # waits behind the poller
    await asyncio.sleep(0.05)
    await layer.send(channel, {"type": "handed.on"})
    await asyncio.wait_for(asyncio.shield(waiter), 2)  # the poller was woken first...
    layer.abandon_poll(channel, waiter)  # ...and gives up, as if cancelled
    assert (await asyncio.wait_for(receiver, 2))["type"] == "handed.on"


async def test_polling_a_channel_not_made_here_is_no_fast_path(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    layer = await make_layer()
    assert layer.poll_delivery(unique("plain")) is None


async def test_concurrent_receivers_share_the_messages(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    make_layer.require("send_to_unreceived")
    layer = await make_layer()
    channel = unique("jobs")
    receivers = [asyncio.create_task(layer.receive(channel)) for _ in range(3)]
    await asyncio.sleep(0.05)
    for index in range(3):
        await layer.send(channel, {"type": "job", "n": index})
    done = await asyncio.wait_for(asyncio.gather(*receivers), 2)
    assert sorted(message["n"] for message in done) == [0, 1, 2]


async def test_send_to_a_full_channel_raises_channel_full(make_layer: LayerMaker) -> None:
    make_layer.require("channel_full")
    layer = await make_layer(capacity=3)
    channel = await layer.new_channel()
    for index in range(3):
        await layer.send(channel, {"type": "fill", "n": index})
    with pytest.raises(ChannelFull):
        await layer.send(channel, {"type": "overflow"})
    # What was accepted is still there, in order, and the refused message is not.
    received = [await asyncio.wait_for(layer.receive(channel), 2) for _ in range(3)]
    assert [message["n"] for message in received] == [0, 1, 2]


async def test_channel_capacity_patterns_override_capacity(make_layer: LayerMaker) -> None:
    make_layer.require("channel_full")
    layer = await make_layer(capacity=100, channel_capacity={"tiny.*": 1})
    tiny = await layer.new_channel("tiny")
    roomy = await layer.new_channel("roomy")
    assert layer.get_capacity(tiny) == 1
    assert layer.get_capacity(roomy) == 100
    await layer.send(tiny, {"type": "one"})
    with pytest.raises(ChannelFull):
        await layer.send(tiny, {"type": "two"})
    await layer.send(roomy, {"type": "one"})
    await layer.send(roomy, {"type": "two"})


async def test_expired_messages_are_dropped_even_when_new_ones_arrive(
    make_layer: LayerMaker,
) -> None:
    layer = await make_layer(expiry=1)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "old"})
    await asyncio.sleep(1.3)
    await layer.send(channel, {"type": "new"})
    assert (await asyncio.wait_for(layer.receive(channel), 2))["type"] == "new"


async def test_flush_drops_messages_and_groups(make_layer: LayerMaker) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "gone"})
    await layer.group_add("flushed", channel)
    await layer.flush()
    channel = await layer.new_channel()
    await layer.group_send("flushed", {"type": "nobody"})
    await layer.send(channel, {"type": "fresh"})
    assert (await asyncio.wait_for(layer.receive(channel), 2))["type"] == "fresh"


async def test_receive_counts_what_it_hands_over(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    # layer_messages_received_total is "messages handed to a receiver": a direct receive()
    # (a worker, sync code) as much as a consumer's.
    from prometheus_client import REGISTRY

    def count(metric: str, op: str) -> float:
        labels = {"layer": alias, "op": op}
        return REGISTRY.get_sample_value(f"fast_channels_layer_messages_{metric}_total", labels)

    layer = await make_layer()
    alias = unique("counted")
    layer.bind_alias(alias)
    channel = await layer.new_channel()
    group = unique("counted-group")
    await layer.group_add(group, channel)
    for index in range(3):
        await layer.send(channel, {"type": "seq", "n": index})
    await layer.group_send(group, {"type": "seq", "n": 3})
    received = [(await asyncio.wait_for(layer.receive(channel), 2))["n"] for _ in range(4)]
    assert received == [0, 1, 2, 3]
    assert (count("sent", "send"), count("received", "send")) == (3, 3)
    assert (count("sent", "group_send"), count("received", "group_send")) == (1, 1)
