"""An idle consumer's handler run in the task that delivers to it, not after a wake-up.

A fan-out to 1,000 consumers in this process used to wake 1,000 tasks, one loop callback and
one task step each, to run handlers that mostly finish without suspending (a send_json whose
socket keeps up). Here a consumer's delivery feeder, parked on its empty channel, registers
a DirectHandler with the buffer (layers/buffer.py, DirectReceiver); the fan-out offers it the
delivery, and it runs the handler's first step at once, in the fan-out task. Every layer of
ours offers it: the Redis layers' fan-out runs in their receive loop or subscriber (3-12%
less server CPU per delivery end to end), the in-memory layer's in the sender's group_send
(see its offers_direct). The guarantees of a consumer's own task stay:
- one handler at a time: it takes the consumer's turn, and refuses (the delivery is queued as
  before) when the turn is held, by the handler of an ASGI event or of an earlier delivery;
- per-consumer order: only an empty buffer offers a delivery, so nothing queued is overtaken;
- a handler that would block never stalls the others: at its first suspension it is handed
  to the consumer's own task (woken for it), which resumes it where it stopped;
- it runs as if in that task: in the consumer's context, and with the consumer's task as
  asyncio.current_task() (asyncio.timeout and anyio cancel scopes bind to it; _compat.py);
- its error ends the consumer as it would from the consumer's task, never the fan-out.
Not nested: a handler run so that itself sends to a group sees its members handled as before
(woken), so a chain of consumers cannot grow the fan-out's stack.
"""

from __future__ import annotations

import asyncio
import contextvars
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Protocol

from fast_channels._compat import swap_current_task
from fast_channels.layers.buffer import REFUSED, TAKEN, TAKEN_WAKE, Delivery

# Whether a handler is running in a fan-out now (then no other is: see the module docstring).
# A module global read without a lock: an event loop in another thread seeing it set only
# refuses, which is always safe.
_running = False


# What a driver yields once the handler it was sent has finished.
_DONE: Any = object()


@types.coroutine
def _run_handlers() -> Generator[Any, Any, None]:
    """A consumer's driver: runs each handler coroutine sent to it, to its end or to its first
    suspension (what the handler yields then comes out of send(); Resume continues it), then
    yields _DONE and waits for the next. Sending a coroutine into this long-lived generator,
    not calling the coroutine's own send(), spares a StopIteration (an exception object and
    its handling) per handler run: `yield from` takes the coroutine's end in C, as a task's
    step does. A handler's error ends the driver with it (a new one is made)."""
    coroutine = yield _DONE
    while True:
        yield from coroutine
        coroutine = yield _DONE


def _driver() -> Generator[Any, Any, None]:
    driver = _run_handlers()
    driver.send(None)  # to its first yield, where it takes a coroutine
    return driver


class Turn(Protocol):
    """The consumer's one-handler-at-a-time turn (feeding.py)."""

    held: bool

    def release(self) -> None: ...


class DirectHandler:
    """What a consumer's delivery feeder registers with its buffer: see the module docstring.
    `begin(delivery)` records the delivery on the consumer and returns the handler's
    coroutine; `end()` forgets it (the feeder's own steps around a dispatch)."""

    __slots__ = ("begin", "context", "driver", "end", "ended", "loop", "pending", "task", "turn")

    def __init__(
        self,
        begin: Callable[[Delivery], Coroutine[Any, Any, None]],
        end: Callable[[], None],
        turn: Turn,
        ended: asyncio.Future[BaseException],
        context: contextvars.Context,
    ) -> None:
        self.begin, self.end, self.turn, self.ended = begin, end, turn, ended
        self.context = context
        self.loop = ended.get_loop()
        self.task: asyncio.Task[None] | None = None  # the delivery feeder, once it runs
        self.driver = _driver()
        # A handler that suspended here: (the driver running it, what it yielded), for the
        # feeder to continue (Resume); the driver is this one, free again once it finishes.
        self.pending: tuple[Generator[Any, Any, None], Any] | None = None

    def __call__(self, delivery: Delivery) -> int:
        global _running
        turn, task = self.turn, self.task
        if turn.held or _running or task is None or self.ended.done():
            return REFUSED
        turn.held = True
        loop = self.loop
        _running = True
        previous = swap_current_task(loop, task)  # type: ignore[misc]  # not None: see feeding
        driver = self.driver
        try:
            yielded = self.context.run(driver.send, self.begin(delivery))
        except (Exception, asyncio.CancelledError) as error:
            # As from the consumer's own task: the first error ends the consumer (the turn is
            # released below, as that task's feeder releases it before it ends).
            self.driver = _driver()  # that one ended with the error
            if not self.ended.done():
                self.ended.set_result(error)
        else:
            if yielded is not _DONE:
                self.pending = (driver, yielded)  # the turn stays held until it finishes
                return TAKEN_WAKE
        finally:
            swap_current_task(loop, previous)  # type: ignore[misc]
            _running = False
        self.end()
        turn.release()
        return TAKEN


class Resume:
    """Awaitable: a handler that suspended in a fan-out, continued in the consumer's task
    through its driver. It first yields what the handler yielded (the future it waits on),
    as if the task had run it from the start; then relays sends and throws until the driver
    says the handler is done (its error comes out of here)."""

    __slots__ = ("driver", "yielded")

    def __init__(self, driver: Generator[Any, Any, None], yielded: Any) -> None:
        self.driver, self.yielded = driver, yielded

    def __await__(self) -> Generator[Any, Any, None]:
        driver, value = self.driver, self.yielded
        self.yielded = None
        while value is not _DONE:
            try:
                sent = yield value
            except GeneratorExit:
                driver.close()
                raise
            except BaseException as error:  # a cancellation of the task, into the handler
                value = driver.throw(error)
            else:
                value = driver.send(sent)


def available() -> bool:
    """Whether handlers may run in a fan-out on this Python (see _compat.swap_current_task)."""
    return swap_current_task is not None
