"""What feeds a consumer its messages: the ASGI receive and, with a channel layer, its
channel, each read by one long-lived task; the two take turns so that one handler runs at a
time (ConsumerFeeding, a base of AsyncConsumer)."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from fast_channels.consumer import direct
from fast_channels.consumer._layers import has_fast_path, takes_direct
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


def _drop_pending(handler: direct.DirectHandler | None) -> None:
    """The consumer ends with a handler handed over but not resumed: close it (its driver)."""
    if handler is not None and handler.pending is not None:
        handler.pending[0].close()
        handler.pending = None


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
        if has_fast_path(layer):
            handler = (
                direct.DirectHandler(self._begin_delivery, self._end_delivery, turn, ended, context)
                if direct.available() and takes_direct(layer)
                else None
            )
            feeding = self._feed_deliveries(layer, turn, ended, handler)
        else:
            handler, feeding = None, self._feed_received(layer, turn, ended)
        feeders = [
            loop.create_task(self._feed_events(receive, turn, ended), context=context),
            loop.create_task(feeding, context=context),
        ]
        if handler is not None:
            handler.task = feeders[1]
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

    def _begin_delivery(self, delivery: Delivery) -> Coroutine[Any, Any, None]:
        """Record a delivery about to be handled; its handler's coroutine, not started."""
        self.channel_layer.metrics.received(delivery.op, delivery.sent_at)  # type: ignore[union-attr]
        self._traceparent = delivery.traceparent
        message = delivery.message
        if delivery.op == "group_send":
            self._group_message, self._shared_sent = message, ()
        return self.dispatch(message)

    def _end_delivery(self) -> None:
        # Not held past the handler: with thousands of consumers, what each kept between
        # bursts was walked by every young-generation garbage collection, then promoted.
        self._traceparent = self._group_message = None

    async def _feed_deliveries(
        self,
        layer: BaseChannelLayer,
        turn: _Turn,
        ended: asyncio.Future[BaseException],
        handler: direct.DirectHandler | None,
    ) -> None:
        """Take the deliveries of this consumer's channel and handle each in turn; errors end
        the consumer as in _feed_events. While it waits, `handler` (direct.py) may handle a
        delivery in the task that brings it; one that suspends is finished here."""
        channel = self.channel_name
        delivery: Any  # a Delivery, or what poll_delivery() returned
        try:
            while True:
                # The buffer's future awaited here: no coroutine made per message (with
                # thousands of consumers, those were a quarter of the young objects that
                # every garbage collection walked during a fan-out).
                delivery = (
                    layer.poll_delivery(channel)
                    if handler is None
                    else layer.poll_delivery(channel, handler)
                )
                if delivery is None:  # no fast path for this layer
                    delivery = await layer.receive_delivery(channel)
                elif not isinstance(delivery, Delivery):
                    try:
                        await delivery
                    except asyncio.CancelledError:
                        layer.abandon_poll(channel, delivery)
                        _drop_pending(handler)
                        raise
                    if handler is not None and handler.pending is not None:
                        await self._finish_pending(handler, turn)
                    continue
                if turn.held:
                    await turn.wait()
                else:
                    turn.held = True
                try:  # no coroutine of ours around dispatch: one frame less per message
                    await self._begin_delivery(delivery)
                finally:
                    self._end_delivery()
                    turn.release()
                # Not held while waiting for the next one (see _end_delivery).
                delivery = None
        except BaseException as error:
            if _feeder_ended(ended, error):
                raise

    async def _finish_pending(self, handler: direct.DirectHandler, turn: _Turn) -> None:
        """A handler that suspended in a fan-out (direct.py), resumed here; it holds the turn."""
        driver, yielded = handler.pending  # type: ignore[misc]
        handler.pending = None
        try:
            await direct.Resume(driver, yielded)
        finally:
            self._end_delivery()
            turn.release()

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
