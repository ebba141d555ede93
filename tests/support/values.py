"""What a receiver should get of a message, written apart from fast_channels/layers/values.py:
tests compare every layer against it, so that a layer (or the rule) cannot drift unseen."""

from __future__ import annotations

import math
from typing import Any


class Refused(Exception):
    """The model says: no layer may carry this."""


def received(value: Any, depth: int = 1) -> Any:
    """The value a receiver gets on any layer, or Refused. A message nests at most 100 deep."""
    if isinstance(value, dict | list | tuple) and depth > 100:
        raise Refused("too deep")
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise Refused("key")
        return {received(k, depth): received(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [received(item, depth + 1) for item in value]
    return _received_scalar(value)


def _received_scalar(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if -(2**63) <= value < 2**64:
            return int(value)
        raise Refused("int range")
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, str):
        if any(0xD800 <= ord(char) <= 0xDFFF for char in value):
            raise Refused("surrogate")
        return "".join(value)
    raise Refused(type(value).__name__)


def identical(expected: Any, got: Any) -> bool:
    """Equal with the same types all the way down (1 is not 1.0 nor True), NaN equal to NaN."""
    if type(expected) is not type(got):
        return False
    if isinstance(expected, float) and math.isnan(expected):
        return math.isnan(got)
    if isinstance(expected, dict):
        return expected.keys() == got.keys() and all(
            identical(value, got[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return len(expected) == len(got) and all(
            identical(a, b) for a, b in zip(expected, got, strict=True)
        )
    return bool(expected == got)


def nested(depth: int, container: str = "dict") -> dict[str, Any]:
    """A message whose innermost container is `depth` levels deep (the message is level 1)."""
    inner: Any = {} if container == "dict" else []
    for _ in range(depth - 2):
        inner = {"a": inner} if container == "dict" else [inner]
    return {"a": inner}
