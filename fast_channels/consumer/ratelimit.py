"""A per-connection token bucket for inbound frames: two floats, no allocation per frame."""

from __future__ import annotations

import time


class TokenBucket:
    """Allows `messages` frames per `period` seconds on average, and bursts of `messages`."""

    __slots__ = ("_rate", "_size", "_tokens", "_updated")

    def __init__(self, messages: int, period: float) -> None:
        if isinstance(messages, bool) or not isinstance(messages, int) or messages < 1:
            raise ValueError(f"rate_limit_messages must be an int >= 1 or None, got {messages!r}")
        if not period > 0:
            raise ValueError(f"rate_limit_period must be a positive number, got {period!r}")
        self._size = float(messages)
        self._rate = messages / period
        self._tokens = float(messages)
        self._updated = time.monotonic()

    def allow(self) -> bool:
        """Take one token; False when the bucket is empty (the frame exceeds the limit)."""
        now = time.monotonic()
        tokens = min(self._size, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True
