"""A Python asyncio WebSocket client that reconnects and recovers (README "Recovery").

`RecoveringClient(url)` (or `connect(url)`) keeps one connection to a consumer that joins its
groups with `join_group()`: after ANY close (1001 from a draining server included) it
reconnects with exponential backoff and full jitter, sending `?recover=` with the last position
it received per group (wire protocol v1), so the server replays what it missed. Application
messages are iterated; the server's fc.recovery answers are surfaced separately
(`recoveries()`, `outcomes`). Needs `websockets` (the `client` extra), imported when used.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from fast_channels.layers.history import Position

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

ANSWER_TYPE = "fc.recovery"
_CLOSED = object()  # ends the iteration of messages


class State(enum.StrEnum):
    CONNECTING = "connecting"  # the first connection is being made
    OPEN = "open"
    RECONNECTING = "reconnecting"  # lost; waiting out the backoff or connecting again
    CLOSED = "closed"  # close() was called: no more reconnections


@dataclass(frozen=True)
class RecoveryOutcome:
    """One fc.recovery answer: what the server did for a group on a (re)connection."""

    group: str
    recovered: bool  # every message after the position sent was replayed
    replayed: int
    position: Position  # the group's position when the server answered
    fresh: bool  # no position was sent for the group (nothing to recover)
    connection: int  # which connection of this client it answered (1: the first)


def backoff_delay(attempt: int, base: float, cap: float, draw: Callable[[], float]) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)); spreads the reconnections
    of many clients cut at once (a rolling deploy) instead of bunching them."""
    return float(draw() * min(cap, base * 2.0 ** min(attempt, 32)))


def recover_url(url: str, positions: dict[str, Position]) -> str:
    """`url` with `recover=` set to the positions (replacing one it had); none: without."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "recover"]
    if positions:
        value = {g: {"epoch": p.epoch, "offset": p.offset} for g, p in positions.items()}
        query.append(("recover", json.dumps(value, separators=(",", ":"))))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def _pos(value: Any) -> tuple[str, Position] | None:
    if type(value) is not dict:
        return None
    group, epoch, offset = value.get("group"), value.get("epoch"), value.get("offset")
    if type(group) is str and type(epoch) is str and type(offset) is int:
        return group, Position(epoch, offset)
    return None


class RecoveringClient:
    """See the module docstring. Use as `async with RecoveringClient(url) as client:`."""

    def __init__(
        self,
        url: str,
        *,
        positions: dict[str, Position] | None = None,
        backoff_base: float = 0.25,
        backoff_cap: float = 10.0,
        open_timeout: float = 10.0,
        on_state: Callable[[State], None] | None = None,
        jitter: Callable[[], float] = random.random,
        **connect_options: Any,
    ) -> None:
        if urlsplit(url).scheme not in ("ws", "wss"):
            raise ValueError(f"a WebSocket URL (ws:// or wss://) is needed, got {url!r}")
        self.url = url
        # group -> the last position received (the next reconnection resumes from it).
        self.positions: dict[str, Position] = dict(positions or {})
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.open_timeout = open_timeout
        self.outcomes: list[RecoveryOutcome] = []
        self.connections = 0  # connections opened so far
        self.last_error: BaseException | None = None
        self.last_close_code: int | None = None
        self._on_state = on_state
        self._jitter = jitter
        self._connect_options = connect_options
        self._state = State.CONNECTING
        self._messages: asyncio.Queue[Any] = asyncio.Queue()
        self._answers: asyncio.Queue[Any] = asyncio.Queue()
        self._opened = asyncio.Event()
        self._state_changed = asyncio.Event()  # replaced by a new one at each change
        self._ws: ClientConnection | None = None
        self._gone = asyncio.Event()  # set when the current connection (self._ws) ended
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    async def start(self) -> None:
        """Start connecting (in a task, reconnecting until close()); returns at once."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def wait_open(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self._opened.wait()

    async def wait_state(self, state: State, timeout: float | None = None) -> None:
        """Return once the client is in `state` (at once if it is)."""
        async with asyncio.timeout(timeout):
            while self._state is not state:
                await self._state_changed.wait()

    async def close(self) -> None:
        """Close the connection and stop reconnecting; iteration of messages ends."""
        self._set_state(State.CLOSED)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._messages.put_nowait(_CLOSED)
        self._answers.put_nowait(_CLOSED)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- talking ------------------------------------------------------------------------------

    async def send_json(self, content: Any) -> None:
        """Send on the current connection, waiting for one while reconnecting."""
        from websockets.exceptions import ConnectionClosed

        text = json.dumps(content)
        while True:
            if self._state is State.CLOSED:
                raise RuntimeError("the client is closed")
            ws, gone = self._ws, self._gone
            if ws is None:
                await self._opened.wait()
                continue
            try:
                await ws.send(text)
                return
            except ConnectionClosed:
                await gone.wait()  # lost meanwhile: sent again on the next connection

    async def recv(self) -> Any:
        """The next application message (fc.recovery answers are not among them): a JSON
        value, as sent (with its "_pos", if any). Raises EOFError once closed."""
        message = await self._messages.get()
        if message is _CLOSED:
            self._messages.put_nowait(_CLOSED)
            raise EOFError("the client is closed")
        return message

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate(self._messages)

    def recoveries(self) -> AsyncIterator[RecoveryOutcome]:
        """The fc.recovery answers, as they come (also kept in `outcomes`)."""
        return self._iterate(self._answers)

    async def _iterate(self, queue: asyncio.Queue[Any]) -> AsyncIterator[Any]:
        while True:
            item = await queue.get()
            if item is _CLOSED:
                queue.put_nowait(_CLOSED)
                return
            yield item

    # -- the connection loop -------------------------------------------------------------------

    def _set_state(self, state: State) -> None:
        if self._state is State.CLOSED or state is self._state:
            return
        self._state = state
        changed, self._state_changed = self._state_changed, asyncio.Event()
        changed.set()
        if self._on_state is not None:
            self._on_state(state)

    async def _run(self) -> None:
        from websockets.asyncio.client import connect as ws_connect
        from websockets.exceptions import ConnectionClosed, WebSocketException

        failures = 0
        while True:
            try:
                async with ws_connect(
                    recover_url(self.url, self.positions),
                    open_timeout=self.open_timeout,
                    **self._connect_options,
                ) as ws:
                    failures = 0
                    await self._serve(ws)
            except (OSError, TimeoutError, WebSocketException) as error:
                if isinstance(error, ConnectionClosed):
                    self.last_close_code = error.rcvd.code if error.rcvd else None
                else:
                    failures += 1  # only failed attempts grow the backoff
                self.last_error = error
            finally:
                self._ws = None
                self._opened.clear()
                self._gone.set()
            self._set_state(State.RECONNECTING)
            await asyncio.sleep(
                backoff_delay(failures, self.backoff_base, self.backoff_cap, self._jitter)
            )

    async def _serve(self, ws: ClientConnection) -> None:
        self.connections += 1
        self._ws, self._gone = ws, asyncio.Event()
        self._set_state(State.OPEN)
        self._opened.set()
        async for frame in ws:
            self._on_frame(frame)
        # A clean close (1000, 1001) ends the loop without an error: reconnect all the same.
        self.last_close_code = ws.close_code

    def _on_frame(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            self._messages.put_nowait(frame)
            return
        try:
            message = json.loads(frame)
        except ValueError:
            self._messages.put_nowait(frame)
            return
        if type(message) is dict:
            if message.get("type") == ANSWER_TYPE:
                self._on_answer(message)
                return
            found = _pos(message.get("_pos"))
            if found is not None:
                self.positions[found[0]] = found[1]
        self._messages.put_nowait(message)

    def _on_answer(self, answer: dict[str, Any]) -> None:
        group, epoch, offset = answer.get("group"), answer.get("epoch"), answer.get("offset")
        if type(group) is not str or type(epoch) is not str or type(offset) is not int:
            return  # not an answer of protocol v1
        outcome = RecoveryOutcome(
            group,
            answer.get("recovered") is True,
            int(answer.get("replayed") or 0),
            Position(epoch, offset),
            answer.get("fresh") is True,
            self.connections,
        )
        if not epoch:
            self.positions.pop(group, None)  # the group has no history: nothing to resume
        elif not outcome.recovered:
            # Resume from here next time (replayed messages, if any, move it on as they come).
            self.positions[group] = outcome.position
        self.outcomes.append(outcome)
        self._answers.put_nowait(outcome)


def connect(url: str, **options: Any) -> RecoveringClient:
    """`async with connect(url) as client:`: a RecoveringClient (see its options)."""
    return RecoveringClient(url, **options)
