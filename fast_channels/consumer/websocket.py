"""WebSocket consumers: frames in, frames out, groups joined for the connection's lifetime."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, ClassVar

import structlog

from fast_channels._compat import abort_connection
from fast_channels.consumer import _json, slow
from fast_channels.consumer.base import AsyncConsumer
from fast_channels.consumer.encode_once import encode_shared
from fast_channels.consumer.ratelimit import TokenBucket
from fast_channels.consumer.recovery import GroupRecovery
from fast_channels.drain import drain_state
from fast_channels.exceptions import (
    AcceptConnection,
    ClientDisconnected,
    DenyConnection,
    InvalidChannelLayerError,
    StopConsumer,
)
from fast_channels.observability.tracing import connect_span
from fast_channels.type_defs import (  # noqa: F401 -- 1.x code imports these from here
    ChannelHeaders,
    WebSocketAcceptEvent,
    WebSocketCloseEvent,
    WebSocketConnectEvent,
    WebSocketDisconnectEvent,
    WebSocketReceiveEvent,
)
from fast_channels.types import Headers, Message, Receive, Scope, Send

logger = structlog.get_logger("fast_channels.websocket")

CLOSE_NORMAL = 1000
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_NO_STATUS = 1005
CLOSE_ABNORMAL = 1006
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
# A slow consumer's close (README "Slow consumers"): "Try Again Later", the registered code for
# a server casting off a client for a passing condition: the client may reconnect (and must
# resync what it missed). 1008 would blame a message the client sent; 3000-4999 are not ours.
CLOSE_SLOW_CONSUMER = 1013

# Stands in for the watchdog of a consumer nobody watches.
_UNWATCHED = slow.Watchdog()


def disconnect_code(message: Message) -> int:
    """The close code of a `websocket.disconnect` event. uvicorn (0.30 to 0.55, each of its
    WebSocket protocols) reports a connection lost without a close frame (a TCP reset, an EOF)
    as 1005, the code of a close frame without a status; only a close frame's event carries a
    "reason". Without one, 1005 is what RFC 6455 calls an abnormal closure, 1006."""
    code = int(message.get("code") or CLOSE_NORMAL)
    if code == CLOSE_NO_STATUS and "reason" not in message:
        return CLOSE_ABNORMAL
    return code


def _text_size(text: str) -> int:
    """Bytes of a text frame, UTF-8 encoded; ASCII text (a flag, not a scan) is not encoded."""
    return len(text) if text.isascii() else len(text.encode())


class AsyncWebsocketConsumer(AsyncConsumer):
    """Override connect(), receive() and disconnect(); send() and close() talk to the client."""

    groups: list[str] = []
    # Frames larger than this many bytes close the socket with 1009; None disables the check.
    max_frame_size: ClassVar[int | None] = 1024 * 1024
    # Inbound frames allowed per `rate_limit_period` seconds per connection (a token bucket:
    # bursts up to this many); more closes the socket with 1008. None disables the limit.
    rate_limit_messages: ClassVar[int | None] = None
    rate_limit_period: ClassVar[float] = 1.0
    # Slow readers (README "Slow consumers"). "close": a send to the client that has not
    # returned after `send_timeout` seconds (the client stopped reading: the server's write
    # buffer is full) closes the socket with 1013, counted as reason="slow_consumer". "drop":
    # the handler waits on the send for as long as it takes, while the layer drops and counts
    # what overflows this consumer's buffer. None: no bound, the same as "drop".
    slow_consumer_policy: ClassVar[slow.SlowConsumerPolicy] = "close"
    send_timeout: ClassVar[float | None] = 10.0

    base_receive: Receive
    _task: asyncio.Task[Any] | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.groups = list(self.groups)  # per instance: connect() may append
        self._accepted = False
        self._closed = False
        self._close_code: int | None = None
        self._disconnect_done = False
        self._connected_at = self._connect_event_at = 0.0
        self._rate_limit: TokenBucket | None = None
        self._new_rate_limit()  # validates the options: as_asgi() fails at mount time
        slow.validate(type(self).__name__, self.slow_consumer_policy, self.send_timeout)
        self._watchdog = _UNWATCHED
        self._sending = False  # awaiting a send to the client (see slow.py)
        self._close_label: str | None = None  # the metric reason, when not the code's
        self._cancelled = False

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.base_receive = receive
        self._task = asyncio.current_task()
        try:
            await super()._serve(scope, receive, send)
        except asyncio.CancelledError:
            # Our own cancel (_close_slow, where the connection could not be aborted) ends
            # the consumer like a close; anyone else's goes on.
            if not self._cancelled or (self._task is not None and self._task.uncancel() > 0):
                raise

    # -- ASGI events -----------------------------------------------------------------------

    def _new_rate_limit(self) -> None:
        if self.rate_limit_messages is not None:
            self._rate_limit = TokenBucket(self.rate_limit_messages, self.rate_limit_period)

    async def websocket_connect(self, message: Message) -> None:
        self._connect_event_at = time.monotonic()  # where a recovery's time starts
        self._new_rate_limit()  # per connection: a mounted instance serves copies of itself
        if drain_state.draining:
            # This process is shutting down: refuse, the client retries on another replica.
            await self.close()
            return
        with connect_span(type(self).__name__, self.scope.get("path")):
            await self._join_groups()
            try:
                await self.connect()
            except AcceptConnection:
                await self.accept()
            except DenyConnection:
                await self.close()

    async def websocket_receive(self, message: Message) -> None:
        if self._closed:
            return  # frames that raced our close: the connection is going away
        text, data = message.get("text"), message.get("bytes")
        size = _text_size(text) if text is not None else len(data or b"")
        self.instruments.bytes_in.observe(size)  # counts the frame in messages_total too
        if self.max_frame_size is not None and size > self.max_frame_size:
            logger.info("frame too large", consumer=type(self).__name__, size=size)
            await self.close(CLOSE_MESSAGE_TOO_BIG, "frame too large")
            return
        if self._rate_limit is not None and not self._rate_limit.allow():
            logger.info("inbound rate limit exceeded", consumer=type(self).__name__)
            await self.close(CLOSE_POLICY_VIOLATION, "rate limit exceeded")
            return
        if text is not None:
            await self.receive(text_data=text)
        else:
            await self.receive(bytes_data=data)

    async def websocket_disconnect(self, message: Message) -> None:
        if self._close_code is None:  # the client closed first; otherwise keep our reason
            self._close_code = disconnect_code(message)
        await self._leave_groups()
        await self._run_disconnect(self._close_code)
        raise StopConsumer()

    # -- what applications override --------------------------------------------------------

    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        pass

    async def disconnect(self, code: int) -> None:
        pass

    # -- talking to the client -------------------------------------------------------------

    async def accept(self, subprotocol: str | None = None, headers: Headers | None = None) -> None:
        await self._send_event(
            {"type": "websocket.accept", "subprotocol": subprotocol, "headers": list(headers or [])}
        )
        self._accepted = True
        if self.slow_consumer_policy == "close" and self.send_timeout is not None:
            self._watchdog = slow.watchdog()
            self._watchdog.watch(self, self.send_timeout)
        self._connected_at = time.monotonic()
        drain_state.add(self)
        self.instruments.opened.inc()
        self.instruments.connections.inc()
        logger.info("websocket connected", consumer=type(self).__name__)

    async def send(  # type: ignore[override]
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        # Straight to the server (AsyncConsumer.send only forwards): one coroutine less each.
        message: Message
        if text_data is not None:
            message, size = {"type": "websocket.send", "text": text_data}, _text_size(text_data)
        elif bytes_data is not None:
            message, size = {"type": "websocket.send", "bytes": bytes_data}, len(bytes_data)
        else:
            raise ValueError("You must pass one of bytes_data or text_data")
        self._sending = True  # see slow.py: what finds a client that does not read
        try:
            await self.base_send(message)
        except OSError as error:
            raise self._gone(error) from None
        except RuntimeError as error:
            if not self._accept_skipped(error):
                raise
            raise self._gone(error) from None
        self._sending = False
        self.instruments.bytes_out.observe(size)  # and counts the frame
        if close:
            await self.close(close)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        """Close the socket; before accept() this denies the handshake with HTTP 403."""
        if self._closed:
            return
        # `True` (from send(..., close=True)) is a legacy way of saying "default code".
        close_code = code if isinstance(code, int) and not isinstance(code, bool) else CLOSE_NORMAL
        self._closed = True
        self._close_code = close_code if self._accepted else 403
        message: Message = {"type": "websocket.close", "code": close_code}
        if reason:
            message["reason"] = reason
        await self._send_event(message)

    async def _send_event(self, message: Message) -> None:
        """Send an ASGI event other than a frame (accept, close), watched like a frame."""
        self._sending = True
        try:
            await self.base_send(message)
        except OSError as error:
            raise self._gone(error) from None
        self._sending = False

    def _accept_skipped(self, error: RuntimeError) -> bool:
        """A frame refused because the server never sent our accept: uvicorn's sans-I/O
        protocols (0.55: websockets-sansio, wsproto) skip a `websocket.accept` without error
        when the client's connection is already closing (it dropped during the handshake),
        then answer the next frame with RuntimeError("Expected ASGI message
        'websocket.accept'..."). That client is gone (tests/consumer/test_handshake_drop.py);
        any other RuntimeError is the application's and propagates."""
        return self._accepted and "Expected ASGI message 'websocket.accept'" in str(error)

    def _gone(self, error: Exception) -> ClientDisconnected:
        """A send found the client gone (ASGI servers raise an OSError subclass): not a
        handler error. The consumer stops; the socket counts as closed abnormally, unless it
        was closed for a reason of ours first."""
        self._sending = False
        if self._close_code is None:
            self._close_code = CLOSE_ABNORMAL if self._accepted else CLOSE_INTERNAL_ERROR
        return ClientDisconnected(str(error) or "the client is gone")

    def _close_slow(self) -> None:
        """Called by the watchdog: a send has blocked past send_timeout. The connection is
        aborted (a close frame would wait behind the unread bytes, see _compat.py); the send
        then fails and the consumer stops as for a vanished client, with our reason."""
        self._closed = True
        self._close_code, self._close_label = CLOSE_SLOW_CONSUMER, "slow_consumer"
        logger.warning(
            "slow consumer closed: a send to the client blocked past send_timeout",
            consumer=type(self).__name__,
            send_timeout=self.send_timeout,
            channel=getattr(self, "channel_name", None),
        )
        if not abort_connection(self.base_receive) and self._task is not None:
            self._cancelled = True
            self._task.cancel()

    # -- groups and cleanup ----------------------------------------------------------------

    async def _join_groups(self) -> None:
        if not self.groups:
            return
        if self.channel_layer is None:
            raise InvalidChannelLayerError(
                f"{type(self).__name__} has groups {self.groups!r} but no channel_layer_alias"
            )
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def _leave_groups(self) -> None:
        layer = self.channel_layer
        if layer is None:
            return
        for group in self.groups:
            await self._bounded(
                f"group_discard {group}", layer.group_discard(group, self.channel_name)
            )

    async def _run_disconnect(self, code: int) -> None:
        if self._disconnect_done:
            return
        self._disconnect_done = True
        await self._bounded("disconnect", self.disconnect(code))

    async def cleanup(self) -> None:
        # However the consumer ended (handler error, client gone, Redis down), the groups are
        # left, disconnect() runs once and the layer channel is released.
        if not self._disconnect_done:
            await self._leave_groups()
            if self._close_code is None:
                self._close_code = CLOSE_ABNORMAL if self._accepted else CLOSE_INTERNAL_ERROR
            await self._run_disconnect(self._close_code)
        await super().cleanup()
        self._watchdog.unwatch(self)
        instruments = self.instruments
        if self._accepted:
            drain_state.discard(self)
            instruments.connections.dec()
        instruments.closed(self._close_code, self._close_label)
        logger.info(
            "websocket disconnected",
            consumer=type(self).__name__,
            code=self._close_code,
            duration=round(time.monotonic() - self._connected_at, 3) if self._accepted else 0,
        )


class AsyncJsonWebsocketConsumer(GroupRecovery, AsyncWebsocketConsumer):
    """Text frames are JSON: override receive_json(); send_json() sends; join_group() joins
    a group with recovery of what the client missed (README "Recovery")."""

    # Whether the class keeps our encode_json and send, settled once per class (in
    # __init_subclass__), not by identity checks on each send_json: if so, send_json does
    # their work inline, a coroutine less per message for each. _positioned_once: it keeps
    # our send_json too, so a frame with "_pos" may be encoded once per burst (recovery.py).
    _encodes_inline: ClassVar[bool] = True
    _sends_inline: ClassVar[bool] = True
    _positioned_once: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # getattr: an encode_json overridden as a plain method has no __func__.
        cls._encodes_inline = getattr(cls.encode_json, "__func__", None) is _ENCODE_JSON
        cls._sends_inline = cls.send is _SEND
        cls._positioned_once = cls._encodes_inline and cls.send_json is _SEND_JSON

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            logger.info("binary frame on a JSON socket", consumer=type(self).__name__)
            await self.close(CLOSE_UNSUPPORTED_DATA, "expected a JSON text frame")
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError:
            logger.info("malformed JSON frame", consumer=type(self).__name__)
            await self.close(CLOSE_INVALID_PAYLOAD, "malformed JSON")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        pass

    async def send_json(self, content: Any, close: bool = False) -> None:
        if self._encodes_inline:
            group_message = self._group_message
            if group_message is None:
                text = _json.dumps(content)
            else:  # one encoding for every member of the burst (see encode_once.py)
                sent, key = self._shared_sent, id(content)
                text = encode_shared(content, group_message, key in sent)
                self._shared_sent = (*sent, key)
        else:
            text = await self.encode_json(content)
        if close or not self._sends_inline:
            await self.send(text_data=text, close=close)
            return
        # send()'s work inline (see _sends_inline).
        self._sending = True
        try:
            await self.base_send({"type": "websocket.send", "text": text})
        except OSError as error:
            raise self._gone(error) from None
        except RuntimeError as error:
            if not self._accept_skipped(error):
                raise
            raise self._gone(error) from None
        self._sending = False
        self.instruments.bytes_out.observe(_text_size(text))

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        return json.loads(text_data)

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return _json.dumps(content)


_ENCODE_JSON = AsyncJsonWebsocketConsumer.encode_json.__func__  # type: ignore[attr-defined]
_SEND = AsyncWebsocketConsumer.send
_SEND_JSON = AsyncJsonWebsocketConsumer.send_json
