"""Structured logs with structlog: what the library logs, and a one-call production set-up.

The library logs events, never payloads: message contents, tokens and cookies stay out of logs.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import structlog


def configure_logging(*, json: bool = True, level: int | str = logging.INFO) -> None:
    """Production logging: one JSON object per line on stdout (set `json=False` for humans).

    Context bound with `structlog.contextvars` (the connection id and channel name of the
    consumer handling the current connection) is merged into every event.
    """
    if isinstance(level, str):
        level = logging.getLevelNamesMapping()[level.upper()]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )


class RateLimitedLog:
    """Logs an event at most once per `interval` seconds per key, with how many were folded in.

    For events that can happen per message (drops, undecodable payloads): one line, not a flood.
    """

    def __init__(self, logger: Any, event: str, interval: float = 10.0) -> None:
        self.logger = logger
        self.event = event
        self.interval = interval
        self._last: dict[tuple[Any, ...], float] = {}
        self._suppressed: dict[tuple[Any, ...], int] = {}

    def __call__(self, key: tuple[Any, ...] = (), **fields: Any) -> bool:
        """Log now if this key has not been logged within the interval; True if it was."""
        now = time.monotonic()
        if now - self._last.get(key, -self.interval) < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        suppressed = self._suppressed.pop(key, 0)
        self.logger.warning(self.event, suppressed=suppressed, **fields)
        return True
