"""What feeds a consumer its messages: the ASGI receive and, with a channel layer, its
channel, each read by one long-lived task; the two take turns so that one handler runs at a
time (ConsumerFeeding, a base of AsyncConsumer)."""

from __future__ import annotations

import asyncio
import contextvars
from typing import TYPE_CHECKING, Any

from fast_channels.consumer._layers import has_fast_path
from fast_channels.layers import BaseChannelLayer
from fast_channels.layers.buffer import Delivery
from fast_channels.types import Message, Receive


class _Turn:
    """One handler at a time: the two tasks feeding a consumer (the ASGI receive and the
    layer channel) take turns. Taking a free turn never awaits; a waiting task is handed the
    turn directly, so the two sources alternate fairly."""

    __slots__ = ("_waiter", "held")

    def __init__(self) -> None:
        self.held = False
        # Only two tasks ever take turns, so at most one waits.
        self._waiter: asyncio.Future[None] | None = None

    async def wait(self) -> None:
        """Called while the turn is held: returns once the holder has handed it over."""
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        except asyncio.CancelledError:
            if self._waiter is waiter:
                self._waiter = None
            elif not waiter.cancelled():
                self.release()  # handed the turn, then cancelled before running: pass it on
            raise

    def release(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)  # the turn goes to the waiter: `held` stays True
                return
        self.held = False


def _feeder_ended(ended: asyncio.Future[BaseException], error: BaseException) -> bool:
    """A consumer feeder stopped with `error`: the first one ends the consumer (see
    ConsumerFeeding._run). True when the feeder must re-raise it: a CancelledError is ours
    (_run stopping the feeders) or came out of a handler, ending the consumer like any other."""
    if not ended.done():
        ended.set_result(error)
    return isinstance(error, asyncio.CancelledError)


class ConsumerFeeding:
    """_run(): feed the consumer's messages to dispatch() until the first error ends it."""

    if TYPE_CHECKING:  # AsyncConsumer's, declared here for the type checker only
        channel_layer: BaseChannelLayer | None
        channel_name: str
        _traceparent: str | None
        _group_message: dict[str, Any] | None
        _shared_sent: tuple[int, ...]

        async def dispatch(self, message: Message) -> None: ...

    async def _run(self, receive: Receive, context: contextvars.Context) -> None:
        layer = self.channel_layer
        if layer is None:
            # One source: no task, no hand-over, handlers in this task's context.
            while True:
                await self.dispatch(await receive())
        # Two sources, each read by one long-lived task that runs its own handlers, one at a
        # time (_Turn), in arrival order. A message wakes exactly one task: nothing is relayed
        # through a queue, and no task is created per message.
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[BaseException] = loop.create_future()
        turn = _Turn()
        feed = self._feed_deliveries if has_fast_path(layer) else self._feed_received
        feeders = [
            loop.create_task(self._feed_events(receive, turn, ended), context=context),
            loop.create_task(feed(layer, turn, ended), context=context),
        ]
        try:
            error = await ended
        finally:
            for feeder in feeders:
                feeder.cancel()
            await asyncio.gather(*feeders, return_exceptions=True)
        raise error

    async def _feed_events(
        self, receive: Receive, turn: _Turn, ended: asyncio.Future[BaseException]
    ) -> None:
        """Take ASGI events from `receive` and handle each in turn; the first error
        (StopConsumer included) ends the consumer: it is passed to _run, which stops both
        feeders."""
        try:
            while True:
                event = await receive()
                if turn.held:
                    await turn.wait()
                else:
                    turn.held = True
                try:
                    await self.dispatch(event)
                finally:
                    turn.release()
        except BaseException as error:
            if _feeder_ended(ended, error):
                raise

    async def _feed_deliveries(
        self, layer: BaseChannelLayer, turn: _Turn, ended: asyncio.Future[BaseException]
    ) -> None:
        """Take the deliveries of this consumer's channel and handle each in turn; errors end
        the consumer as in _feed_events."""
        channel = self.channel_name
        delivery: Any  # a Delivery, or what poll_delivery() returned
        message: Any  # its message: not held between deliveries either (see below)
        try:
            while True:
                # The buffer's future awaited here: no coroutine made per message (with
                # thousands of consumers, those were a quarter of the young objects that
                # every garbage collection walked during a fan-out).
                delivery = layer.poll_delivery(channel)
                if delivery is None:  # no fast path for this layer
                    delivery = await layer.receive_delivery(channel)
                elif not isinstance(delivery, Delivery):
                    try:
                        await delivery
                    except asyncio.CancelledError:
                        layer.abandon_poll(channel, delivery)
                        raise
                    continue
                if turn.held:
                    await turn.wait()
                else:
                    turn.held = True
                try:  # dispatched inline, not by a method: one coroutine less per message
                    layer.metrics.received(delivery.op, delivery.sent_at)
                    self._traceparent = delivery.traceparent
                    message = delivery.message
                    if delivery.op == "group_send":
                        self._group_message, self._shared_sent = message, ()
                    try:
                        await self.dispatch(message)
                    finally:
                        self._traceparent = self._group_message = message = None
                finally:
                    turn.release()
                # Not held while waiting for the next one: with thousands of consumers, the
                # deliveries kept alive between bursts were a third of what each young-
                # generation garbage collection walked, and were then promoted.
                delivery = None
        except BaseException as error:
            if _feeder_ended(ended, error):
                raise

    async def _feed_received(
        self, layer: BaseChannelLayer, turn: _Turn, ended: asyncio.Future[BaseException]
    ) -> None:
        """_feed_deliveries for a layer without our fast path: its messages come from its
        receive(), with no envelope (so no delivery-latency metric or trace link)."""
        channel = self.channel_name
        try:
            while True:
                message = await layer.receive(channel)
                if turn.held:
                    await turn.wait()
                else:
                    turn.held = True
                try:
                    await self.dispatch(message)
                finally:
                    turn.release()
        except BaseException as error:
            if _feeder_ended(ended, error):
                raise
