"""The demo's presence frames over real WebSockets (issue 20): the list, joins and leaves."""

from __future__ import annotations

from tests.demo.client import chat, receive
from tests.demo.conftest import DemoServer


async def test_the_room_list_and_its_join_and_leave_events(demo_server: DemoServer) -> None:
    async with chat(demo_server, "presence-ws", "ann") as ann:
        listed = await receive(ann, presence=True)
        assert listed["type"] == "presence"
        assert list(listed["members"].values()) == ["ann"]
        assert (await receive(ann, presence=True))["type"] == "presence.join"  # its own
        async with chat(demo_server, "presence-ws", "bob") as bob:
            listed = await receive(bob, presence=True)
            assert sorted(listed["members"].values()) == ["ann", "bob"]
            joined = await receive(ann, presence=True)
            assert (joined["type"], joined["name"]) == ("presence.join", "bob")
            assert joined["channel"] == listed["self"]
        left = await receive(ann, presence=True)
        assert (left["type"], left["name"], left["reason"]) == ("presence.leave", "bob", "left")
