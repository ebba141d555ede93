"""Recovery end to end: a real uvicorn serving tests/support/recovery_app.py (in-memory layer
with history), the Python RecoveringClient, connections cut by a TCP proxy in between."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets

from fast_channels.client import RecoveringClient, RecoveryOutcome, State, connect
from tests.support.tcp_proxy import TcpProxy
from tests.support.uvicorn_server import spawn_uvicorn, stop, uvicorn_server

APP = "tests.support.recovery_app:app"
WAIT = 20.0  # upper bound on any one wait: a hung test fails instead of hanging


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with uvicorn_server(APP) as url:
        yield url


class Receiver:
    """Reads a client's messages into `numbers` (the "n" of each) as they come."""

    def __init__(self, client: RecoveringClient) -> None:
        self.client = client
        self.messages: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._read())
        self._outcomes = client.recoveries()

    @property
    def numbers(self) -> list[int]:
        return [m["n"] for m in self.messages]

    async def _read(self) -> None:
        async for message in self.client:
            self.messages.append(message)
            self._changed.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while len(self.messages) < count:
                self._changed.clear()
                await self._changed.wait()

    async def outcome(self) -> RecoveryOutcome:
        async with asyncio.timeout(WAIT):
            return await anext(self._outcomes)

    def stop(self) -> None:
        self._task.cancel()


@asynccontextmanager
async def client_at(url: str) -> AsyncIterator[tuple[RecoveringClient, Receiver]]:
    async with connect(url, backoff_base=0.02, backoff_cap=0.2) as client:
        receiver = Receiver(client)
        try:
            yield client, receiver
        finally:
            receiver.stop()


@asynccontextmanager
async def proxy_to(port: int) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


async def send(base: str, room: str, first: int, count: int) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{base}/send", params={"room": room, "first": first, "n": count}
        )
        response.raise_for_status()


async def metric(base: str, line_start: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{base}/metrics")).text
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(line_start)]
    return sum(values)


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


async def test_messages_sent_during_network_drops_are_replayed_once_in_order(server: str) -> None:
    complete = 'fast_channels_recoveries_total{outcome="complete"}'
    complete_before = await metric(server, complete)
    async with proxy_to(port_of(server)) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/ws/drops"
        async with client_at(url) as (client, receiver):
            assert (await receiver.outcome()).fresh
            sent = 0
            for _ in range(5):
                await send(server, "drops", sent, 3)  # live
                sent += 3
                await receiver.until(sent)
                proxy.refusing = True
                await proxy.cut()  # the network drops; reconnections fail meanwhile
                await send(server, "drops", sent, 4)  # missed by the client
                sent += 4
                proxy.refusing = False
                outcome = await receiver.outcome()
                assert (outcome.recovered, outcome.replayed, outcome.fresh) == (True, 4, False)
                await receiver.until(sent)
            await send(server, "drops", sent, 2)
            sent += 2
            await receiver.until(sent)
            assert receiver.numbers == list(range(sent))  # every one, once, in order
            assert client.connections == 6
            assert client.state is State.OPEN
            assert [o.connection for o in client.outcomes] == [1, 2, 3, 4, 5, 6]
    assert await metric(server, complete) == complete_before + 5


async def test_recent_shows_a_fresh_client_the_last_messages(server: str) -> None:
    await send(server, "recent", 0, 10)
    url = server.replace("http://", "ws://") + "/ws/recent?recent=3"
    async with client_at(url) as (_, receiver):
        outcome = await receiver.outcome()
        assert (outcome.fresh, outcome.recovered, outcome.replayed) == (True, False, 3)
        assert outcome.position.offset == 10
        await receiver.until(3)
        await send(server, "recent", 10, 1)
        await receiver.until(4)
        assert receiver.numbers == [7, 8, 9, 10]


async def test_an_invalid_recover_query_joins_fresh_and_stays_open(server: str) -> None:
    base = server.replace("http://", "ws://")
    invalid = "fast_channels_recovery_invalid_requests_total"
    before = await metric(server, invalid)
    bad = quote(json.dumps({"room.invalid": {"epoch": "e", "offset": "7"}}))
    async with websockets.connect(f"{base}/ws/invalid?recover={bad}") as ws:
        answer = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        assert (answer["type"], answer["fresh"], answer["recovered"]) == (
            "fc.recovery",
            True,
            False,
        )
        await send(server, "invalid", 0, 1)
        message = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        assert message["n"] == 0
        assert message["_pos"]["offset"] == 1
    assert await metric(server, invalid) == before + 1


async def test_trimmed_history_is_reported_incomplete() -> None:
    with uvicorn_server(APP, env={"RECOVERY_HISTORY_SIZE": "3"}) as base:
        async with proxy_to(port_of(base)) as proxy:
            url = f"ws://127.0.0.1:{proxy.port}/ws/trim"
            async with client_at(url) as (client, receiver):
                await receiver.outcome()
                await send(base, "trim", 0, 2)
                await receiver.until(2)
                proxy.refusing = True
                await proxy.cut()
                await send(base, "trim", 2, 10)  # 2..11; only 9, 10, 11 are kept
                proxy.refusing = False
                outcome = await receiver.outcome()
                assert (outcome.recovered, outcome.replayed) == (False, 3)
                await receiver.until(5)
                assert receiver.numbers == [0, 1, 9, 10, 11]
                # The client resumes from the answer: the next drop recovers completely.
                proxy.refusing = True
                await proxy.cut()
                await send(base, "trim", 12, 2)
                proxy.refusing = False
                assert (await receiver.outcome()).recovered
                await receiver.until(7)
                assert receiver.numbers[-2:] == [12, 13]
                assert client.outcomes[1].position.offset == 12
        incomplete = 'fast_channels_recoveries_total{outcome="incomplete"}'
        assert await metric(base, incomplete) == 1


async def test_a_restarted_server_changes_the_epoch_and_recovery_is_incomplete() -> None:
    first, first_port = spawn_uvicorn(APP)
    second = None
    try:
        async with proxy_to(first_port) as proxy:
            url = f"ws://127.0.0.1:{proxy.port}/ws/restart"
            async with client_at(url) as (client, receiver):
                old_epoch = (await receiver.outcome()).position.epoch
                await send(f"http://127.0.0.1:{first_port}", "restart", 0, 2)
                await receiver.until(2)
                proxy.refusing = True
                await asyncio.to_thread(stop, first)  # SIGTERM: drained, sockets closed 1001
                await client.wait_state(State.RECONNECTING, WAIT)
                assert client.last_close_code == 1001
                second, second_port = await asyncio.to_thread(spawn_uvicorn, APP)
                await send(f"http://127.0.0.1:{second_port}", "restart", 2, 2)
                proxy.target = ("127.0.0.1", second_port)
                proxy.refusing = False
                outcome = await receiver.outcome()
                assert outcome.recovered is False  # the history was lost with the process
                assert outcome.position.epoch != old_epoch
                assert outcome.replayed == 2  # what the new epoch has, shown all the same
                await receiver.until(4)
                assert receiver.numbers == [0, 1, 2, 3]
                assert client.positions["room.restart"].epoch == outcome.position.epoch
    finally:
        stop(first)
        if second is not None:
            stop(second)


async def test_many_clients_cut_repeatedly_during_a_broadcast_miss_nothing(server: str) -> None:
    """Cuts race the broadcast: messages arrive live, replayed, or both (then de-duplicated)."""
    total, clients = 300, 20
    async with proxy_to(port_of(server)) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/ws/storm"
        opened = [connect(url, backoff_base=0.02, backoff_cap=0.2) for _ in range(clients)]
        for client in opened:
            await client.start()
        receivers = [Receiver(client) for client in opened]
        try:
            for receiver in receivers:
                assert (await receiver.outcome()).fresh

            async def broadcast() -> None:
                async with httpx.AsyncClient(base_url=server) as http:
                    for first in range(0, total, 3):
                        params = {"room": "storm", "first": first, "n": 3}
                        (await http.post("/send", params=params)).raise_for_status()
                        await asyncio.sleep(0.005)  # pacing only: spreads sends over the cuts

            sending = asyncio.ensure_future(broadcast())
            cuts = 0
            while not sending.done() and cuts < 8:
                await asyncio.sleep(0.1)
                await proxy.cut()  # reconnections allowed at once: they race the sends
                cuts += 1
            await asyncio.wait_for(sending, WAIT)
            for receiver in receivers:
                await receiver.until(total)
                assert receiver.numbers == list(range(total))
            assert cuts >= 2
            assert all(client.connections >= 2 for client in opened)
            assert all(o.recovered for c in opened for o in c.outcomes if not o.fresh)
        finally:
            for receiver in receivers:
                receiver.stop()
            for client in opened:
                await client.close()
