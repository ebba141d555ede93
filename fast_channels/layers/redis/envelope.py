"""The envelope (reserved keys around the user's message) and the frame stored in Redis.

Envelope: the user's dict plus `__fc_ts` (sent-at wall clock), `__fc_op` ("send" or
"group_send") and, when a trace is active, `__fc_tp` (W3C traceparent). It is serialized once
per send/group_send; receivers strip the keys and surface them in a `Delivery`.

Frame: what a Redis list or pub/sub channel carries, `b"<expires-at>\\n<targets>\\n<payload>"`.
`targets` is a space-separated list of process-local channel names the message is for (empty
for a plain channel or a pub/sub group); it lives outside the payload so that the group_send
Lua script can write one serialized payload with a different target list for each process.
A group with history (README "Recovery") gets its position in the head, for the same reason:
`b"<expires-at> <epoch> <offset> <group>\\n<targets>\\n<payload>"` (positioned_head).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fast_channels.exceptions import MessageTooLarge
from fast_channels.layers.redis.serializers import MessageSerializer
from fast_channels.observability.tracing import current_traceparent

SENT_AT = "__fc_ts"
OP = "__fc_op"
TRACEPARENT = "__fc_tp"

DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024

TraceparentProvider = Callable[[], str | None]
# The current span's W3C traceparent, or None when no OpenTelemetry SDK is configured.
_traceparent_provider: TraceparentProvider | None = current_traceparent


def set_traceparent_provider(provider: TraceparentProvider | None) -> None:
    """Install the callable that returns the current W3C traceparent (or None) at send time."""
    global _traceparent_provider
    _traceparent_provider = provider


class UndecodableMessage(Exception):
    """A payload read from Redis could not be turned back into a message."""


class Decoded:
    __slots__ = ("message", "op", "sent_at", "traceparent")

    def __init__(
        self, message: dict[str, Any], op: str, sent_at: float | None, traceparent: str | None
    ) -> None:
        self.message = message
        self.op = op
        self.sent_at = sent_at
        self.traceparent = traceparent


class Codec:
    def __init__(
        self, serializer: MessageSerializer, *, format_name: str, max_message_size: int
    ) -> None:
        if max_message_size < 1:
            raise ValueError(
                f"max_message_size must be a positive byte count, got {max_message_size!r}"
            )
        self.serializer = serializer
        self.format_name = format_name
        self.max_message_size = max_message_size

    def encode(self, message: dict[str, Any], op: str, destination: str) -> tuple[bytes, float]:
        """Serialize the envelope once; returns the payload and the sent-at time."""
        now = time.time()
        envelope = dict(message)
        envelope[SENT_AT] = now
        envelope[OP] = op
        if _traceparent_provider is not None:
            traceparent = _traceparent_provider()
            if traceparent:
                envelope[TRACEPARENT] = traceparent
        try:
            payload = self.serializer.serialize(envelope)
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(
                f"The message for {destination!r} cannot be serialized with "
                f"{self.format_name!r}: {exc}"
            ) from exc
        if len(payload) > self.max_message_size:
            raise MessageTooLarge(
                f"The message for {destination!r} is {len(payload)} bytes serialized; "
                f"the layer accepts at most {self.max_message_size} (max_message_size)"
            )
        return payload, now

    def decode(self, payload: bytes) -> Decoded:
        try:
            envelope = self.serializer.deserialize(payload)
        except Exception as exc:  # whatever a (custom) serializer or Fernet raises
            raise UndecodableMessage(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(envelope, dict):
            raise UndecodableMessage(f"expected a dict, got {type(envelope).__name__}")
        sent_at = envelope.pop(SENT_AT, None)
        op = envelope.pop(OP, "send")
        traceparent = envelope.pop(TRACEPARENT, None)
        return Decoded(envelope, op, sent_at, traceparent)


def make_frame(expires_at: float, targets: str, payload: bytes) -> bytes:
    return b"%.3f\n%s\n" % (expires_at, targets.encode("utf8")) + payload


def positioned_head(expires_at: float, epoch: str, offset: int, group: str) -> bytes:
    """The head of a frame for a group with history: its position follows the expires-at."""
    return b"%.3f %s %d %s" % (expires_at, epoch.encode(), offset, group.encode())


def split_frame(frame: bytes) -> tuple[float, bytes, bytes, dict[str, Any] | None]:
    """(expires_at, targets, payload, position); raises UndecodableMessage for a malformed
    frame. `position` is the "__position__" of a group with history (README "Recovery"),
    else None: its head is "<expires-at> <epoch> <offset> <group>" (group names hold no
    space), a plain head is the expires-at alone, read by one float() as before."""
    try:
        head, targets, payload = frame.split(b"\n", 2)
        try:
            return float(head), targets, payload, None
        except ValueError:
            expires, epoch, offset, group = head.split(b" ")
            position = {"group": group.decode(), "epoch": epoch.decode(), "offset": int(offset)}
            return float(expires), targets, payload, position
    except (ValueError, UnicodeDecodeError) as exc:
        # Never the frame's bytes: they are the user's payload, and this text gets logged.
        raise UndecodableMessage(f"malformed frame ({len(frame)} bytes)") from exc
