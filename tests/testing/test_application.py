from __future__ import annotations

import asyncio

import pytest

from fast_channels.testing import ApplicationCommunicator
from fast_channels.types import Receive, Scope, Send


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "stop":
            return
        await send({"type": "echo", "value": message["value"]})


async def crashing_app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    raise ValueError("boom")


async def send_then_crash_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "first"})
    raise ValueError("after first")


async def sleeping_app(scope: Scope, receive: Receive, send: Send) -> None:
    await asyncio.sleep(60)


async def test_receive_output_returns_what_the_app_sends() -> None:
    communicator = ApplicationCommunicator(echo_app, {"type": "test"})
    await communicator.send_input({"type": "ping", "value": 1})
    await communicator.send_input({"type": "ping", "value": 2})
    assert await communicator.receive_output() == {"type": "echo", "value": 1}
    assert await communicator.receive_output() == {"type": "echo", "value": 2}
    await communicator.send_input({"type": "stop"})
    assert await communicator.wait() is True


async def test_receive_output_times_out_and_cancels_the_app() -> None:
    # As asgiref's communicator (1.x's): see tests/compat/test_testing_tools.py.
    communicator = ApplicationCommunicator(echo_app, {"type": "test"})
    with pytest.raises(TimeoutError, match=r"within 0\.05 seconds"):
        await communicator.receive_output(timeout=0.05)
    assert communicator.future.cancelled()


async def test_asyncio_timeout_error_is_the_same_exception() -> None:
    communicator = ApplicationCommunicator(sleeping_app, {"type": "test"})
    with pytest.raises(asyncio.TimeoutError):
        await communicator.receive_output(timeout=0.01)
    await communicator.aclose()


async def test_receive_output_reraises_the_app_exception() -> None:
    communicator = ApplicationCommunicator(crashing_app, {"type": "test"})
    await communicator.send_input({"type": "go"})
    with pytest.raises(ValueError, match="boom"):
        await communicator.receive_output()


async def test_messages_sent_before_a_crash_come_before_the_crash() -> None:
    communicator = ApplicationCommunicator(send_then_crash_app, {"type": "test"})
    assert await communicator.receive_output() == {"type": "first"}
    with pytest.raises(ValueError, match="after first"):
        await communicator.receive_output()


async def test_send_input_to_a_crashed_app_reraises_its_exception() -> None:
    communicator = ApplicationCommunicator(send_then_crash_app, {"type": "test"})
    await communicator.receive_output()
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="after first"):
        await communicator.send_input({"type": "too late"})


async def test_receive_output_after_the_app_returned_fails_at_once() -> None:
    communicator = ApplicationCommunicator(echo_app, {"type": "test"})
    await communicator.send_input({"type": "stop"})
    await communicator.wait()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError, match="already finished"):
        await communicator.receive_output(timeout=5)
    assert loop.time() - started < 1


async def test_receive_nothing_is_true_when_the_app_is_quiet() -> None:
    communicator = ApplicationCommunicator(echo_app, {"type": "test"})
    assert await communicator.receive_nothing() is True
    await communicator.aclose()


async def test_receive_nothing_is_false_when_a_message_is_waiting() -> None:
    communicator = ApplicationCommunicator(echo_app, {"type": "test"})
    await communicator.send_input({"type": "ping", "value": 1})
    assert await communicator.receive_nothing() is False
    assert await communicator.receive_output() == {"type": "echo", "value": 1}
    await communicator.aclose()


async def test_receive_nothing_reraises_a_crash() -> None:
    communicator = ApplicationCommunicator(crashing_app, {"type": "test"})
    await communicator.send_input({"type": "go"})
    with pytest.raises(ValueError, match="boom"):
        await communicator.receive_nothing()


async def test_wait_cancels_an_app_that_does_not_finish() -> None:
    cancelled = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    communicator = ApplicationCommunicator(app, {"type": "test"})
    assert await communicator.wait(timeout=0.05) is False
    assert cancelled.is_set()
    assert communicator.future.cancelled()


async def test_wait_reraises_the_app_exception() -> None:
    communicator = ApplicationCommunicator(crashing_app, {"type": "test"})
    await communicator.send_input({"type": "go"})
    with pytest.raises(ValueError, match="boom"):
        await communicator.wait()


async def test_context_manager_cancels_the_app_on_exit() -> None:
    async with ApplicationCommunicator(sleeping_app, {"type": "test"}) as communicator:
        await asyncio.sleep(0)
        assert not communicator.future.done()
    assert communicator.future.cancelled()


async def test_stop_cancels_without_waiting() -> None:
    communicator = ApplicationCommunicator(sleeping_app, {"type": "test"})
    await asyncio.sleep(0)
    communicator.stop()
    await asyncio.sleep(0)
    assert communicator.future.cancelled()


async def test_scope_changes_before_the_first_await_reach_the_app() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "user", "user": scope["user"]})

    communicator = ApplicationCommunicator(app, {"type": "test"})
    communicator.scope["user"] = "alice"
    assert await communicator.receive_output() == {"type": "user", "user": "alice"}


def test_a_communicator_built_outside_a_loop_starts_on_first_use() -> None:
    communicator = ApplicationCommunicator(echo_app, {"type": "test"})

    async def drive() -> object:
        await communicator.send_input({"type": "ping", "value": 7})
        message = await communicator.receive_output()
        await communicator.aclose()
        return message

    assert asyncio.run(drive()) == {"type": "echo", "value": 7}
