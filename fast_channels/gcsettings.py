"""CPython's garbage-collector settings for a server holding thousands of sockets, from the
environment (README "Thousands of receivers in one process: the garbage collector").

Both are process-wide choices, so nothing changes unless asked:
- FAST_CHANNELS_GC_THRESHOLD="50000,20,20": gc.set_threshold(50000, 20, 20), applied when
  service.lifespan() starts. With the default 700, a broadcast to 1,000 sockets triggers a
  young collection (each walks every young object: the burst's futures, handles, frames).
- FAST_CHANNELS_GC_FREEZE=1: gc.freeze() once the app has started (after its own lifespan
  startup): what import and startup made moves to a permanent generation that no collection
  walks again, and is not copied on write by a forking worker.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping

THRESHOLD_ENV = "FAST_CHANNELS_GC_THRESHOLD"
FREEZE_ENV = "FAST_CHANNELS_GC_FREEZE"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def parse_threshold(value: str) -> tuple[int, ...]:
    """ "50000,20,20" -> (50000, 20, 20): one to three non-negative ints (as gc.set_threshold
    takes them). ValueError naming the variable otherwise."""
    try:
        parts = tuple(int(part) for part in value.split(","))
    except ValueError:
        parts = ()
    if not 1 <= len(parts) <= 3 or min(parts) < 0:
        raise ValueError(
            f"{THRESHOLD_ENV} must be one to three non-negative integers, e.g. "
            f"'50000,20,20' (gc.set_threshold's arguments), got {value!r}"
        )
    return parts


def parse_freeze(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise ValueError(f"{FREEZE_ENV} must be 1/true or 0/false, got {value!r}")


def apply_threshold(environ: Mapping[str, str] = os.environ) -> tuple[int, ...] | None:
    """Set the collector's thresholds if the environment asks; returns what was set."""
    value = environ.get(THRESHOLD_ENV, "").strip()
    if not value:
        return None
    threshold = parse_threshold(value)
    gc.set_threshold(*threshold)
    return threshold


def freeze_if_asked(environ: Mapping[str, str] = os.environ) -> bool:
    """gc.freeze() if the environment asks (call it once the app has started)."""
    if not parse_freeze(environ.get(FREEZE_ENV, "")):
        return False
    gc.collect()  # what is garbage already is freed, not frozen for the process's life
    gc.freeze()
    return True
