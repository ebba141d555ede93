"""Drive any ASGI v3 application from a test, one message at a time."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Self

from asgiref.compatibility import guarantee_single_callable

from fast_channels.types import ASGIApp, Message, Scope

# The test tools' errors are AssertionErrors too: 1.x's tools asserted, and users' test suites
# may catch AssertionError (or pytest.raises it).


class UnexpectedMessageError(RuntimeError, AssertionError):
    """The application sent a message of another type than the test expected."""

    def __init__(self, expected: str, message: Message) -> None:
        super().__init__(
            f"Expected type {expected}, but was {message.get('type')!r}: {dict(message)!r}"
        )
        self.message = message


class CommunicatorTypeError(TypeError, AssertionError):
    """A test tool was given an argument of the wrong type."""


class CommunicatorValueError(ValueError, AssertionError):
    """A test tool was given arguments it cannot use together."""


class ApplicationCommunicator:
    """Runs `application(scope, receive, send)` as a task on the running loop.

    The scope is passed by reference: changes made to `self.scope` before the first
    `await` are seen by the application (the usual `communicator.scope["user"] = ...`).
    Timeouts are parameters rather than `asyncio.timeout` to keep asgiref's testing API.
    """

    def __init__(self, application: Any, scope: Scope) -> None:
        # An ASGI 2 app (a class, or a callable returning the app for a scope) is adapted,
        # as asgiref's communicator (1.x's) did.
        self.application: ASGIApp = guarantee_single_callable(application)  # type: ignore[no-untyped-call]
        self.scope = scope
        # asgiref's names: some test suites put into and read these directly.
        self.input_queue: asyncio.Queue[Message] = asyncio.Queue()
        self.output_queue: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # built outside a loop (a sync fixture): start on first use instead
        self._start()

    def _start(self) -> asyncio.Task[None]:
        if self._task is None:
            coro = self.application(self.scope, self.input_queue.get, self.output_queue.put)
            self._task = asyncio.ensure_future(coro)
        return self._task

    @property
    def future(self) -> asyncio.Task[None]:
        """The task running the application (started if it was not yet)."""
        return self._start()

    async def send_input(self, message: Message) -> None:
        task = self._start()
        if task.done():
            # Surface a crash now rather than letting the test wait for an answer; a
            # cancelled application raises CancelledError, as with asgiref's communicator.
            task.result()
        await self.input_queue.put(message)

    async def receive_output(self, timeout: float = 1) -> Message:
        """Next message sent by the application; messages sent before a crash come first."""
        task = self._start()
        if self.output_queue.empty() and task.done():
            _raise_if_failed(task)
            raise TimeoutError("Expected a message, but the application has already finished")
        getter = asyncio.ensure_future(self.output_queue.get())
        try:
            await asyncio.wait({getter, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            getter.cancel()  # a no-op when it already holds a message
        if getter.done() and not getter.cancelled():
            return getter.result()
        if task.done():
            _raise_if_failed(task)
            raise TimeoutError("Expected a message, but the application finished without one")
        # As asgiref's communicator: the application is cancelled (a later send_input or
        # disconnect() raises CancelledError), so a hung app does not outlive its test.
        await self.aclose()
        raise TimeoutError(f"Expected a message within {timeout} seconds, but none came")

    async def receive_nothing(self, timeout: float = 0.1, interval: float = 0.01) -> bool:
        """True if the application sends nothing within `timeout` seconds."""
        task = self._start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await asyncio.sleep(0)  # let the application run at least once
        # Polling, not an Event: the output queue is the app's own `send`, we cannot hook it.
        while self.output_queue.empty() and not task.done() and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(interval)
        if self.output_queue.empty() and task.done():
            _raise_if_failed(task)  # "nothing" because it crashed is not the nothing a test means
        return self.output_queue.empty()

    async def wait(self, timeout: float = 1) -> bool:
        """Wait for the application to return; cancel it after `timeout` seconds.

        Returns True if it returned on its own, False if it had to be cancelled.
        Re-raises the application's exception if it crashed.
        """
        task = self._start()
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            await self.aclose()
            return False
        _raise_if_failed(task)
        return True

    def stop(self, exceptions: bool = True) -> None:
        """Cancel the application without waiting; re-raise its crash if `exceptions`."""
        if self._task is None:
            return
        if not self._task.done():
            self._task.cancel()
        elif exceptions:
            _raise_if_failed(self._task)

    async def aclose(self) -> None:
        """Cancel the application and wait until it has finished unwinding."""
        if self._task is None or self._task.done():
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we were cancelled ourselves, not only the application

    def __del__(self) -> None:
        # Dropped without disconnect()/aclose(): cancel the application rather than leave
        # its task pending until the loop closes ("Task was destroyed but it is pending").
        task = getattr(self, "_task", None)  # None if __init__ did not get that far
        if task is not None and not task.done() and not task.get_loop().is_closed():
            task.cancel()

    async def __aenter__(self) -> Self:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _raise_if_failed(task: asyncio.Task[None]) -> None:
    """Re-raise the finished application's own exception; a cancellation is not one."""
    if not task.cancelled() and (error := task.exception()) is not None:
        raise error
