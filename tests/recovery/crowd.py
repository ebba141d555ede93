"""A crowd of Python recovering clients in one demo room, and what each saw: the recovery
"Done when" tests with Python clients (rolling restart, network drops, Redis restarted empty).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fast_channels.client import RecoveringClient, RecoveryOutcome, State
from tests.demo.stack import Broadcaster

TIMEOUT = 120.0


@dataclass
class Recovered:
    """One reconnection of one client, client side: when it saw the close, when the
    fc.recovery answer came, and when the last replayed message came (None: none replayed)."""

    lost_at: float
    answered_at: float
    outcome: RecoveryOutcome
    replay_done_at: float | None = None

    @property
    def seconds(self) -> float:
        """Close seen -> answer and replay done."""
        return max(self.answered_at, self.replay_done_at or 0.0) - self.lost_at


@dataclass
class Member:
    """One client and what it saw: chat messages in order, answers, when it lost its socket."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)  # RecoveringClient's
    client: RecoveringClient = field(init=False)
    received: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # each received message's offset
    outcomes: list[RecoveryOutcome] = field(default_factory=list)
    lost_at: float | None = None
    recoveries: list[Recovered] = field(default_factory=list)
    arrivals: dict[int, float] = field(default_factory=dict)  # offset -> when it came

    def __post_init__(self) -> None:
        self.client = RecoveringClient(self.url, on_state=self.on_state, **self.options)

    def on_state(self, state: State) -> None:
        if state is State.RECONNECTING and self.lost_at is None:
            self.lost_at = time.monotonic()

    async def follow(self) -> None:
        async for message in self.client:
            if isinstance(message, dict) and message.get("type") == "chat.message":
                self.received.append(message["message"])
                self.offsets.append(message["_pos"]["offset"])
                self.arrivals.setdefault(message["_pos"]["offset"], time.monotonic())

    async def answers(self) -> None:
        async for outcome in self.client.recoveries():
            self.outcomes.append(outcome)
            if self.lost_at is not None:
                self.recoveries.append(Recovered(self.lost_at, time.monotonic(), outcome))
                self.lost_at = None

    def recovery_seconds(self) -> list[float]:
        """Per reconnection: close -> answer + replay done. The last replayed message is the
        one at the answer's offset (the replay ends at the group's position when it was read);
        it may be handled before or after the answer (two queues), so it is looked up here."""
        for recovered in self.recoveries:
            if recovered.outcome.replayed:
                recovered.replay_done_at = self.arrivals[recovered.outcome.position.offset]
        return [recovered.seconds for recovered in self.recoveries]

    @property
    def reconnected(self) -> bool:
        """Open again and answered since its last close (not between a close and an answer)."""
        return self.client.state is State.OPEN and self.lost_at is None


@asynccontextmanager
async def members(url: str, count: int, **options: Any) -> AsyncIterator[list[Member]]:
    """`count` clients of `url` (each named by ?name=c<index>), each followed by two tasks.

    Their opening handshakes may take 60 s, not the client's default 10: these clients share
    one process, and when a loaded machine starves it, its event loop runs seconds late. A
    handshake whose answer is read late then times out although the server answered, the
    client retries, and each retry costs the server a replay and this process its frames:
    800 clients behind 2 busy cores never all came back (95 still retrying after 120 s)."""
    options.setdefault("open_timeout", 60.0)
    group: list[Member] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        for index in range(count):
            member = Member(f"{url}?name=c{index}", options)
            group.append(member)
            await member.client.start()
            tasks += [asyncio.create_task(member.follow()), asyncio.create_task(member.answers())]
        yield group
    finally:
        for member in group:
            await member.client.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def wait_until(
    check: Callable[[], bool], what: str | Callable[[], str], timeout: float = TIMEOUT
) -> None:
    """Polls: the condition spans hundreds of clients, no one event says it became true.
    `what` names it in the failure (a callable: computed then, e.g. what is missing)."""
    try:
        async with asyncio.timeout(timeout):
            while not check():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    except TimeoutError:
        said = what() if callable(what) else what
        raise AssertionError(f"not within {timeout}s: {said}") from None


def assert_exactly_once_in_room_order(
    member: Member, broadcaster: Broadcaster, room_order: dict[str, int]
) -> None:
    """Every accepted message once (unsure ones at most once), in the room's order: the
    broadcaster's posts overlap, so the order is the layer's, its offsets, on which every
    client must agree (`room_order`: message -> offset, as the first client saw it)."""
    assert len(member.received) == len(set(member.received)), "a message arrived twice"
    assert member.offsets == sorted(member.offsets), "out of the room's order"
    for text, offset in zip(member.received, member.offsets, strict=True):
        assert room_order.setdefault(text, offset) == offset, f"{text} at another place"
    assert set(member.received) - broadcaster.unsure == set(broadcaster.accepted)


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def missing_report(group: list[Member], accepted: set[str], room_order: dict[str, int]) -> str:
    """For a failure: which clients lack which messages, and what their connections did."""
    lines = []
    for index, member in enumerate(group):
        missing = sorted(accepted - set(member.received))
        if missing:
            lines.append(
                f"client {index}: {len(missing)} missing, e.g. {missing[:5]} (offsets "
                f"{[room_order.get(m) for m in missing[:5]]}), connections "
                f"{member.client.connections}, state {member.client.state}, last close "
                f"{member.client.last_close_code}, outcomes {member.outcomes[-3:]}, last "
                f"offsets {member.offsets[-3:]}"
            )
    return f"{len(lines)} clients miss messages:\n" + "\n".join(lines[:10])


async def all_back(group: list[Member]) -> None:
    """Waits until every client is open again and answered; on failure names the clients that
    are not and what their connections did (closed again and again, e.g. as slow consumers,
    or open but never answered)."""
    await wait_until(lambda: all(m.reconnected for m in group), lambda: not_back(group))


def not_back(group: list[Member]) -> str:
    lines = [
        f"client {index}: state {member.client.state}, lost at {member.lost_at}, connections "
        f"{member.client.connections}, last close {member.client.last_close_code}, last error "
        f"{member.client.last_error!r}, outcomes {len(member.outcomes)}"
        for index, member in enumerate(group)
        if not member.reconnected
    ]
    return f"all back: {len(lines)} clients are not:\n" + "\n".join(lines[:10])


def everyone_saw(group: list[Member]) -> dict[str, int]:
    """Message -> offset, as any client saw it."""
    return {text: offset for m in group for text, offset in zip(m.received, m.offsets, strict=True)}
