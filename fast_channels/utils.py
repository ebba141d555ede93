"""Helpers that fast-channels 1.x documented as public (`fast_channels.utils`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fast_channels.type_defs import ASGIReceiveCallable

__all__ = ["await_many_dispatch", "is_same_domain"]


async def await_many_dispatch(
    consumer_callables: Sequence[ASGIReceiveCallable],
    dispatch: Callable[[Any], Awaitable[None]],
) -> None:
    """Await every callable at once and pass each result to `dispatch` as it comes, calling
    that callable again for the next one; runs until cancelled or `dispatch` raises. Our
    consumers do not use it (they read each source in its own task), 1.x code may."""
    sources = list(consumer_callables)
    pending: dict[asyncio.Future[Any], int] = {
        asyncio.ensure_future(source()): index for index, source in enumerate(sources)
    }
    try:
        while True:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            # In source order, so that a tie is dispatched the same way every time.
            for future in sorted(done, key=pending.__getitem__):
                index = pending.pop(future)
                await dispatch(future.result())
                pending[asyncio.ensure_future(sources[index]())] = index
    finally:
        for future in pending:
            future.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def is_same_domain(host: str, pattern: str) -> bool:
    """Whether `host` is `pattern`, or, for a pattern with a leading dot (".example.com"),
    that domain or one of its subdomains. Matching is case-insensitive on the pattern, as
    in 1.x; a host is expected lower-case (as urllib gives it)."""
    if not pattern:
        return False
    pattern = pattern.lower()
    if pattern.startswith("."):
        return host == pattern[1:] or host.endswith(pattern)
    return host == pattern
