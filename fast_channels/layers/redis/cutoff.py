"""Why a subscribed pub/sub connection ended, as far as the client can tell: counted and logged.

Redis closes a subscriber whose unread output passes `client-output-buffer-limit pubsub` (a
handler that blocks the event loop, a slow network) and tells it nothing: the client sees the
connection closed, and what Redis had queued for it is gone. How many messages that was, nobody
can know (Redis logs only that it closed the client), so the layer counts the disconnection, not
messages: `layer_subscriber_disconnects_total{reason}`.

What the client can know, and what the log line carries:
- the server ended the stream (EOF), rather than a reset, a bad reply or an unanswered PING;
- the same server runs afterwards (INFO's `run_id` unchanged): not a restart or a failover.
  Both together are `reason="closed_by_redis"`: Redis (or a proxy in front of it) dropped this
  subscriber while running. Anything else is `reason="connection_lost"`.
- whether the stream stopped in the middle of a reply (Redis threw away output it had queued);
- Redis's own count of output-buffer disconnections, where the server reports it (INFO stats
  `client_output_buffer_limit_disconnections`, Redis 7.2+), and the configured limit (CONFIG GET,
  where the ACL allows it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from redis.exceptions import ConnectionError, ResponseError

from fast_channels.observability.logging import RateLimitedLog

if TYPE_CHECKING:
    from redis.asyncio.connection import AbstractConnection

    from fast_channels.layers.redis._types import LayerTasks

logger = structlog.get_logger("fast_channels.layers.redis")

CLOSED_BY_REDIS, CONNECTION_LOST = "closed_by_redis", "connection_lost"
_OUTPUT_CUTS = "client_output_buffer_limit_disconnections"


class ClosedByServer(ConnectionError):
    """The server ended the stream of a subscribed connection (EOF)."""

    def __init__(self, mid_reply: bool) -> None:
        where = "in the middle of a reply" if mid_reply else "between replies"
        super().__init__(f"Redis closed the pub/sub connection ({where})")
        self.mid_reply = mid_reply


@dataclass(frozen=True)
class ServerFacts:
    """What one Redis says about itself when the subscriber connects (None: not told)."""

    run_id: str | None = None
    output_cuts: int | None = None  # INFO stats client_output_buffer_limit_disconnections
    pubsub_limit: str | None = None  # the `pubsub` part of client-output-buffer-limit


def _info_fields(text: Any) -> dict[str, str]:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    fields = (line.partition(":") for line in str(text).splitlines() if ":" in line)
    return {key: value.strip() for key, _, value in fields}


def _pubsub_limit(reply: Any) -> str | None:
    # CONFIG GET answers a map (RESP3) or [name, value] (RESP2); the value reads
    # "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60".
    if isinstance(reply, dict):
        reply = [None, *reply.values()]
    if not isinstance(reply, list) or len(reply) < 2:
        return None
    value = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
    words = value.split()
    if "pubsub" not in words[:-3]:
        return None
    start = words.index("pubsub")
    hard, soft, seconds = words[start + 1 : start + 4]
    return f"hard {hard} B, soft {soft} B for {seconds} s"


async def read_facts(conn: AbstractConnection) -> ServerFacts:
    """INFO and CONFIG GET, pipelined, before the connection subscribes (one round trip). A
    server or ACL that refuses either leaves its facts unknown; it never fails the connect."""
    await conn.send_packed_command(
        conn.pack_commands([("INFO",), ("CONFIG", "GET", "client-output-buffer-limit")]),
        check_health=False,
    )
    replies: list[Any] = []
    for _ in range(2):
        try:
            replies.append(await conn.read_response(disconnect_on_error=False))
        except ResponseError:  # NOPERM, or a managed Redis that renamed CONFIG
            replies.append(None)
    info = _info_fields(replies[0]) if replies[0] is not None else {}
    cuts = info.get(_OUTPUT_CUTS)
    return ServerFacts(
        run_id=info.get("run_id"),
        output_cuts=int(cuts) if cuts is not None and cuts.isdigit() else None,
        pubsub_limit=_pubsub_limit(replies[1]),
    )


class Loss:
    """A subscribed connection that ended: what was known then, reported once reconnected."""

    __slots__ = ("before", "error", "when")

    def __init__(self, error: BaseException, before: ServerFacts) -> None:
        self.error = error
        self.before = before
        self.when = time.monotonic()

    def reason(self, after: ServerFacts) -> str:
        same_server = self.before.run_id is not None and self.before.run_id == after.run_id
        eof = isinstance(self.error, ClosedByServer) or _redis_py_eof(self.error)
        return CLOSED_BY_REDIS if eof and same_server else CONNECTION_LOST

    def fields(self, after: ServerFacts) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "error": str(self.error),
            "down_for": round(time.monotonic() - self.when, 3),
        }
        if isinstance(self.error, ClosedByServer):
            fields["mid_reply"] = self.error.mid_reply
        if self.before.output_cuts is not None and after.output_cuts is not None:
            fields["redis_output_buffer_disconnections"] = (
                after.output_cuts - self.before.output_cuts
            )
        if after.pubsub_limit is not None:
            fields["pubsub_output_buffer_limit"] = after.pubsub_limit
        return fields


def _redis_py_eof(error: BaseException) -> bool:
    # redis-py's reader (the cluster's subscribers read through it) says so on EOF.
    return isinstance(error, ConnectionError) and "closed by server" in str(error).lower()


_CAUSES = {
    CLOSED_BY_REDIS: (
        "Redis closed this subscriber while running: most often its unread output passed "
        "client-output-buffer-limit pubsub (the process read too slowly: a blocked event loop, "
        "a slow network); else CLIENT KILL, maxmemory-clients or a proxy in between. What Redis "
        "had queued for it is lost; how many messages is unknown"
    ),
    CONNECTION_LOST: (
        "the pub/sub connection was lost (Redis restarted or failed over, a network error, an "
        "unanswered PING); messages published to it until it re-subscribed are lost"
    ),
}


class LossReport:
    """Counts and logs (rate-limited, per reason) each loss once its subscriber reconnected."""

    def __init__(self, layer: LayerTasks) -> None:
        self.layer = layer  # read at each report: the registry may rename the layer
        self._log = RateLimitedLog(logger, "fast_channels.layer.subscriber_disconnected")

    def __call__(self, loss: Loss, after: ServerFacts, shard: int) -> None:
        reason = loss.reason(after)
        self.layer.metrics.subscriber_disconnected(reason)
        self._log(
            (reason,),
            layer=self.layer.alias,
            shard=shard,
            reason=reason,
            cause=_CAUSES[reason],
            **loss.fields(after),
        )
