"""Drive any ASGI v3 application from a test, one message at a time."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

from fast_channels.types import ASGIApp, Message, Scope


class UnexpectedMessageError(RuntimeError):
    """The application sent a message of another type than the test expected."""

    def __init__(self, expected: str, message: Message) -> None:
        super().__init__(f"Expected ASGI message {expected}, but got {dict(message)!r}")
        self.message = message


class ApplicationCommunicator:
    """Runs `application(scope, receive, send)` as a task on the running loop.

    The scope is passed by reference: changes made to `self.scope` before the first
    `await` are seen by the application (the usual `communicator.scope["user"] = ...`).
    Timeouts are parameters rather than `asyncio.timeout` to keep asgiref's testing API.
    """

    def __init__(self, application: ASGIApp, scope: Scope) -> None:
        self.application = application
        self.scope = scope
        self._input: asyncio.Queue[Message] = asyncio.Queue()
        self._output: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # built outside a loop (a sync fixture): start on first use instead
        self._start()

    def _start(self) -> asyncio.Task[None]:
        if self._task is None:
            coro = self.application(self.scope, self._input.get, self._output.put)
            self._task = asyncio.ensure_future(coro)
        return self._task

    @property
    def future(self) -> asyncio.Task[None]:
        """The task running the application (started if it was not yet)."""
        return self._start()

    async def send_input(self, message: Message) -> None:
        task = self._start()
        if task.done():
            # Surface a crash now rather than letting the test wait for an answer.
            _raise_if_failed(task)
        await self._input.put(message)

    async def receive_output(self, timeout: float = 1) -> Message:
        """Next message sent by the application; messages sent before a crash come first."""
        task = self._start()
        if self._output.empty() and task.done():
            _raise_if_failed(task)
            raise TimeoutError("Expected a message, but the application has already finished")
        getter = asyncio.ensure_future(self._output.get())
        try:
            await asyncio.wait({getter, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            getter.cancel()  # a no-op when it already holds a message
        if getter.done() and not getter.cancelled():
            return getter.result()
        if task.done():
            _raise_if_failed(task)
            raise TimeoutError("Expected a message, but the application finished without one")
        raise TimeoutError(f"Expected a message within {timeout} seconds, but none came")

    async def receive_nothing(self, timeout: float = 0.1, interval: float = 0.01) -> bool:
        """True if the application sends nothing within `timeout` seconds."""
        task = self._start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await asyncio.sleep(0)  # let the application run at least once
        # Polling, not an Event: the output queue is the app's own `send`, we cannot hook it.
        while self._output.empty() and not task.done() and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(interval)
        if self._output.empty() and task.done():
            _raise_if_failed(task)  # "nothing" because it crashed is not the nothing a test means
        return self._output.empty()

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
