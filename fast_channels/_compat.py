"""What fast_channels takes from its dependencies beyond their public API, in one place.

Each section says why we reach in, what we rely on, and what happens without it. The
dependencies are pinned below their next major release in pyproject.toml, and
tests/test_compat_private_apis.py (with tests/consumer/test_compat.py for uvicorn) checks each
piece against the installed release, naming the attribute when an upgrade removes it.

This module imports nothing of fast_channels and no dependency at import time (objects are
duck-typed; redis-py is imported only when a Redis connection is taken over), so any module of
the package may use it without pulling in what it does not need.

Not here, for a reason: fast_channels/handshake.py subclasses uvicorn's HTTP protocol classes
and reads their `cycle`, `loop` and `transport` (a subclass, not a reach into another object;
tests/consumer/test_compat.py and tests/faults/test_handshake_timeout.py name a change).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from json import encoder as _json_encoder
from typing import Any

# -- redis-py (checked on 8.2; pinned redis<9) --------------------------------------------------
# Why: the hot command path (layers/redis/multiplex.py) and the pub/sub reader
# (layers/redis/subscriber.py) let redis-py open the connection, so TLS, ACL user and password,
# db, client name and Sentinel master discovery behave exactly as configured, then take its
# transport over: redis-py's per-command path cost more CPU than the loopback round trip
# (multiplex.py). redis-py has no public way to hand over a connected transport, so we read its
# StreamWriter (`_writer`), tell its parser (`_parser.on_disconnect()`) that it lost the
# connection, and clear `_reader`/`_writer` so that redis-py's object neither reads the
# transport nor, when collected, closes it or warns that it is open.
REDIS_CONNECTION_ATTRIBUTES = ("_reader", "_writer", "_parser")


def take_over_transport(
    connection: Any, protocol: asyncio.Protocol
) -> tuple[Any, asyncio.StreamWriter]:
    """Point a connected redis-py connection's transport at `protocol`; returns the transport
    and redis-py's StreamWriter, which the caller must hold until it has closed the transport
    (the writer's __del__ would close it, and warn)."""
    writer = connection._writer  # connected and authenticated by redis-py
    if writer is None:
        from redis.exceptions import ConnectionError

        raise ConnectionError("redis-py returned an unconnected connection")
    stream_writer: asyncio.StreamWriter = writer
    transport: Any = stream_writer.transport
    transport.set_protocol(protocol)
    connection._parser.on_disconnect()
    connection._reader = connection._writer = None
    return transport, stream_writer


# Why: the multiplexed connection reads replies with its own hiredis Reader, so an error reply
# arrives as a plain ResponseError; redis-py's callers (our Scripts' NOSCRIPT reload, Retry,
# the cluster client's MOVED/ASK/TRYAGAIN/CLUSTERDOWN handling) expect the class redis-py's own
# parser would have raised. That map is BaseParser.parse_error (redis._parsers, not exported
# by redis). Imported when the first error reply arrives, not with this module.
def parse_error_reply(message: str) -> Exception:
    """The exception redis-py raises for the Redis error reply `message` (without its `-`)."""
    from redis._parsers import BaseParser

    error: Exception = BaseParser.parse_error(message)  # type: ignore[no-untyped-call]
    return error


# -- prometheus_client (checked on 0.26; pinned prometheus-client<1) ----------------------------
# Why: observability/batching.py adds per-message updates up in plain Python and pushes them
# into the metric children when a scrape reads them (an update through prometheus_client takes
# a lock, and a histogram's walks its buckets in Python: ~1 us, five per delivered message).
# A histogram has no public "add n observations to bucket i", so a flush adds to the child's
# bucket values (`_buckets`, with `inc`) and its sum (`_sum`, with `inc`), bucketed by its
# bounds (`_upper_bounds`); a child's kind is its `_type`. Without them batching.batched()
# returns the child itself: updated directly, slower, the same figures.
HISTOGRAM_ATTRIBUTES = ("_upper_bounds", "_buckets", "_sum")


def metric_kind(child: Any) -> str | None:
    """'counter', 'histogram', 'gauge'... for a prometheus_client metric child."""
    kind = getattr(child, "_type", None)
    return kind if isinstance(kind, str) else None


def histogram_internals_present(child: Any) -> bool:
    return all(hasattr(child, name) for name in HISTOGRAM_ATTRIBUTES)


def histogram_bounds(child: Any) -> list[float]:
    """The child's bucket upper bounds, ending with +Inf."""
    return list(child._upper_bounds)


def histogram_buckets(child: Any) -> list[Any]:
    """The child's per-bucket values (not cumulative), each with `inc(amount)`."""
    buckets: list[Any] = child._buckets
    return buckets


def histogram_sum(child: Any) -> Any:
    """The child's sum value, with `inc(amount)`."""
    return child._sum


# -- the json module's C encoder (checked on CPython 3.11) --------------------------------------
# Why: consumer/_json.py makes one C encoder and reuses it; json.dumps makes a fresh one (and
# its markers dict) per call, over a third of the cost of encoding a small message.
# `json.encoder.c_make_encoder` and its positional arguments are undocumented (the hook
# JSONEncoder.iterencode uses); it is None without the C accelerator, and then plain json.dumps
# is used.
c_make_encoder: Callable[..., Any] | None = getattr(_json_encoder, "c_make_encoder", None)


def compact_json_encoder(
    markers: dict[int, Any], default: Callable[[Any], Any]
) -> Callable[[Any, int], Iterator[str]] | None:
    """The C encoder json.dumps(obj) uses with its default options (ASCII, ", " and ": ",
    unsorted, no skipped keys, NaN allowed), or None without the C accelerator."""
    if c_make_encoder is None:
        return None
    encode: Callable[[Any, int], Iterator[str]] = c_make_encoder(
        markers,
        default,
        _json_encoder.encode_basestring_ascii,
        None,  # indent
        ": ",  # key separator
        ", ",  # item separator
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )
    return encode


# -- uvicorn (checked on 0.30 to 0.55; pinned uvicorn<1) ---------------------------------------
# Why: aborting a connection whose client does not read. ASGI has no way to: a
# `websocket.close` waits, like every send, until the write buffer drains below uvicorn's
# high-water mark, which a client that does not read never lets happen, and closing the
# transport waits for that buffer to flush too, so the socket and its buffer would stay for as
# long as the client's kernel keeps answering TCP zero-window probes. Each of uvicorn's
# WebSocket protocols passes its bound `receive` method as the ASGI `receive` and keeps its
# asyncio transport in `.transport` (tests/consumer/test_compat.py checks each protocol).
# Elsewhere (another server, or a middleware that wraps `receive`) abort_connection() returns
# False and the consumer stops without it (README "Slow consumers").


def _abort(receive: Any) -> Any:
    protocol = getattr(receive, "__self__", None)
    return getattr(getattr(protocol, "transport", None), "abort", None)


def can_abort(receive: Any) -> bool:
    """Whether abort_connection() can reach the connection behind this `receive`."""
    return callable(_abort(receive))


def abort_connection(receive: Any) -> bool:
    """Abort the TCP connection behind an ASGI `receive` (uvicorn only): True if done.
    Aborting a transport already closed does nothing."""
    abort = _abort(receive)
    if not callable(abort):
        return False
    abort()
    return True


# -- asyncio (checked on CPython 3.11 to 3.13) ---------------------------------------------------
# Why: consumer/direct.py runs an idle consumer's handler in the task that delivers to it (a
# fan-out), and hands the handler to the consumer's own task if it suspends. While it runs
# there, asyncio.current_task() must already be the consumer's task: asyncio.timeout() and
# anyio's cancel scopes remember the task they were entered in, and would otherwise cancel the
# fan-out, or refuse to exit in the task the handler finishes in. Python 3.12's eager tasks do
# the same swap (asyncio.tasks._swap_current_task); 3.11 has only the loop -> current task map
# that its _enter_task and _leave_task keep (the C accelerator's own dict, which
# asyncio.current_task() reads): set directly, as they would (without their checks, which
# cost as much as the rest of a handler's run here). Without it swap_current_task is None
# and no handler runs outside its task.
_current_tasks: Any = getattr(asyncio.tasks, "_current_tasks", None)


def _swap_current_task_311(loop: asyncio.AbstractEventLoop, task: Any) -> Any:
    current = _current_tasks.get(loop)
    if task is not None:
        _current_tasks[loop] = task
    elif current is not None:
        del _current_tasks[loop]
    return current


swap_current_task: Callable[[asyncio.AbstractEventLoop, Any], Any] | None = getattr(
    asyncio.tasks, "_swap_current_task", None
) or (_swap_current_task_311 if isinstance(_current_tasks, dict) else None)
"""swap_current_task(loop, task): make `task` (or no task) the loop's current task; returns
the one that was. None when this Python has no way to (then handlers run in their own task)."""
