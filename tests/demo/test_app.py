"""The demo app end to end: a real uvicorn subprocess, the real `websockets` client, httpx."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from fast_channels.demo.app import BROWSER_CLIENT
from tests.demo.client import TIMEOUT, assert_nothing, chat, progress_of, receive, receive_type
from tests.demo.conftest import DemoServer


async def test_members_of_a_room_see_each_others_messages(demo_server: DemoServer) -> None:
    async with (
        chat(demo_server, "kitchen", "alice") as alice,
        chat(demo_server, "kitchen", "bob") as bob,
    ):
        await alice.send(json.dumps({"action": "chat", "message": "hello bob"}))
        expected = {"type": "chat.message", "room": "kitchen", "sender": "alice",
                    "message": "hello bob"}  # fmt: skip
        to_bob, to_alice = await receive(bob), await receive(alice)  # the sender is a member too
        # Each carries its position in the room's history (protocol v1), the same for both.
        assert to_bob.pop("_pos") == to_alice.pop("_pos")
        assert to_bob == to_alice == expected

        await bob.send(json.dumps({"action": "chat", "message": "hi alice"}))
        assert (await receive(alice))["message"] == "hi alice"


async def test_another_room_does_not_hear_it(demo_server: DemoServer) -> None:
    async with chat(demo_server, "red", "ann") as red, chat(demo_server, "blue", "ben") as blue:
        await red.send(json.dumps({"action": "chat", "message": "only red"}))
        assert (await receive(red))["message"] == "only red"
        await assert_nothing(blue)
        # The blue socket is alive and in its own room: silence above was not a dead socket.
        await blue.send(json.dumps({"action": "chat", "message": "only blue"}))
        assert (await receive(blue))["message"] == "only blue"
        await assert_nothing(red)


async def test_http_broadcast_reaches_the_room(demo_server: DemoServer) -> None:
    async with chat(demo_server, "news", "nia") as news, chat(demo_server, "other", "oz") as other:
        async with httpx.AsyncClient(base_url=demo_server.http, timeout=TIMEOUT) as client:
            response = await client.post("/api/rooms/news/broadcast", json={"message": "extra!"})
        assert response.status_code == 202
        message = await receive(news)
        assert message.pop("_pos")["group"] == "chat.news"
        assert message == {"type": "chat.message", "room": "news",
                           "sender": "http-api", "message": "extra!"}  # fmt: skip
        await assert_nothing(other)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/rooms/bad%20room/broadcast", {"message": "x"}, 400),
        ("/api/rooms/room%0A/broadcast", {"message": "x"}, 400),
        ("/api/rooms/ok/broadcast", {"message": ""}, 422),
        ("/api/jobs", {"channel": "no spaces allowed", "steps": 3}, 400),
        ("/api/jobs", {"channel": "specific.x!y\n", "steps": 3}, 400),
        ("/api/jobs", {"channel": "specific.x!\u00e9", "steps": 3}, 400),
        ("/api/jobs", {"channel": "specific.x!y", "steps": 0}, 422),
    ],
)
async def test_http_api_rejects_bad_input(
    demo_server: DemoServer, path: str, body: dict[str, Any], status: int
) -> None:
    async with httpx.AsyncClient(base_url=demo_server.http, timeout=TIMEOUT) as client:
        response = await client.post(path, json=body)
    assert response.status_code == status, response.text


async def test_job_started_on_the_socket_streams_progress_to_it(demo_server: DemoServer) -> None:
    async with chat(demo_server, "jobs", "jo") as jo, chat(demo_server, "jobs", "jim") as jim:
        await jo.send(json.dumps({"action": "job", "steps": 5}))
        queued = await receive_type(jo, "job.queued")
        assert await progress_of(jo, queued["job"]) == [0, 20, 40, 60, 80, 100]
        await assert_nothing(jim)  # progress goes to the requesting socket, not the room


async def test_job_started_over_http_streams_progress_to_the_socket(
    demo_server: DemoServer,
) -> None:
    async with connect(f"{demo_server.ws}/ws/chat/jobs2", open_timeout=TIMEOUT) as ws:
        channel = (await receive(ws))["channel"]
        async with httpx.AsyncClient(base_url=demo_server.http, timeout=TIMEOUT) as client:
            response = await client.post("/api/jobs", json={"channel": channel, "steps": 4})
        assert response.status_code == 202
        assert await progress_of(ws, response.json()["job"]) == [0, 25, 50, 75, 100]


@pytest.mark.parametrize("room", ["bad%20room", "%C3%A4", "semi%3Bcolon", "x" * 65])
async def test_bad_room_name_is_refused_before_accept(demo_server: DemoServer, room: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{demo_server.ws}/ws/chat/{room}", open_timeout=TIMEOUT):
            pass
    assert refused.value.response.status_code == 403


async def test_malformed_frames_get_an_error_not_a_crash(demo_server: DemoServer) -> None:
    async with chat(demo_server, "errors", "eve") as eve:
        for frame in ({"action": "dance"}, {"action": "chat", "message": " "},
                      {"action": "job", "steps": 1000}, ["not", "an", "object"]):  # fmt: skip
            await eve.send(json.dumps(frame))
            assert (await receive(eve))["type"] == "error"
        await eve.send(json.dumps({"action": "chat", "message": "still here"}))
        assert (await receive(eve))["message"] == "still here"


async def test_page_and_assets_are_served(demo_server: DemoServer) -> None:
    async with httpx.AsyncClient(base_url=demo_server.http, timeout=TIMEOUT) as client:
        for path in ("/", "/rooms/lobby"):
            page = await client.get(path)
            assert page.status_code == 200
            assert '<p id="status"' in page.text
        script = await client.get("/static/chat.js")
        browser_client = await client.get("/static/fast-channels.js")
        info = (await client.get("/api/info")).json()
    assert script.status_code == 200
    assert "new FastChannelsSocket" in script.text
    # The package's browser client, served as it ships (fast_channels/static/).
    assert browser_client.status_code == 200
    assert browser_client.headers["content-type"].startswith("text/javascript")
    assert browser_client.text == BROWSER_CLIENT.read_text()
    assert info == {"layer": "in-memory", "worker": "in-process", "jobs_channel": "demo-jobs"}


async def test_the_demo_serves_metrics_health_and_readiness(demo_server: DemoServer) -> None:
    async with httpx.AsyncClient(base_url=demo_server.http, timeout=5) as http:
        assert (await http.get("/healthz")).text == "ok"
        ready = await http.get("/readyz")
        metrics = await http.get("/metrics")
    assert ready.status_code == 200
    assert ready.json()["layers"] == ["default"]
    assert "fast_channels_websocket_connections" in metrics.text
