"""tests/support/nginx.py: a real nginx, round-robin over real uvicorn servers, WebSocket
upgrade passed through, and a server replaced on its port gets its share again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.nginx import NGINX, SKIP_REASON, Nginx, nginx
from tests.support.uvicorn_server import spawn_uvicorn, stop

pytestmark = pytest.mark.skipif(NGINX is None, reason=SKIP_REASON)
APP = "tests.support.whoami_app:app"


def served_by(proxy: Nginx, requests: int) -> Counter[str]:
    with httpx.Client(base_url=proxy.url, timeout=5) as client:
        # A new connection per request: round-robin is per upstream connection.
        return Counter(
            client.get("/", headers={"connection": "close"}).text for _ in range(requests)
        )


@pytest.fixture
def two_servers() -> Iterator[dict[str, int]]:
    servers = {name: spawn_uvicorn(APP, env={"SERVER_ID": name}) for name in ("a", "b")}
    try:
        yield {name: port for name, (_, port) in servers.items()}
    finally:
        for process, _ in servers.values():
            stop(process)


def test_round_robin_over_the_upstreams(two_servers: dict[str, int]) -> None:
    with nginx(list(two_servers.values())) as proxy:
        assert served_by(proxy, 6) == {"a": 3, "b": 3}


def test_websockets_upgrade_through_it_and_spread_over_servers(
    two_servers: dict[str, int],
) -> None:
    with nginx(list(two_servers.values())) as proxy:
        seen = []
        for _ in range(4):
            # An HTTP request between sockets (a page loading its scripts) does not shift
            # them: sockets under /ws/ are balanced on their own.
            served_by(proxy, 1)
            with connect(f"{proxy.ws}/ws/echo", open_timeout=5) as ws:
                seen.append(ws.recv(timeout=5))
                ws.send("ping")
                assert ws.recv(timeout=5) == "ping"
        assert Counter(seen) == {"a": 2, "b": 2}


def test_a_server_replaced_on_its_port_serves_again() -> None:
    first, port_a = spawn_uvicorn(APP, env={"SERVER_ID": "a"})
    other, port_b = spawn_uvicorn(APP, env={"SERVER_ID": "b"})
    replacement = None
    try:
        with nginx([port_a, port_b]) as proxy:
            stop(first)
            # While a is gone nginx passes its turn to b: no request fails.
            assert served_by(proxy, 4) == {"b": 4}
            replacement, port = spawn_uvicorn(APP, env={"SERVER_ID": "a2"}, port=port_a)
            assert port == port_a
            assert served_by(proxy, 4) == {"a2": 2, "b": 2}
            assert "emerg" not in proxy.error_log()
    finally:
        for process in (first, other, replacement):
            if process is not None:
                stop(process)


def test_it_leaves_nothing_behind(two_servers: dict[str, int]) -> None:
    proxy = Nginx(list(two_servers.values()))
    assert (proxy.prefix / "nginx.pid").exists()
    proxy.stop()
    assert proxy.process.returncode is not None
    assert not proxy.prefix.exists()
