"""`json.dumps(obj)` for send_json, without building a new C encoder per call.

json.dumps with default options goes through JSONEncoder.iterencode, which makes a fresh C
encoder (and its markers dict) for every call: over a third of the cost of encoding a small
message. The encoder here is made once and reused; its output is exactly json.dumps's. It is
the C encoder json.dumps uses, made through fast_channels/_compat.py (undocumented).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _encoder
from typing import Any

from fast_channels._compat import compact_json_encoder


def _default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _reused_encoder() -> Callable[[Any], str] | None:
    markers: dict[int, Any] = {}  # circular-reference check, as json.dumps does it
    encode = compact_json_encoder(markers, _default)
    if encode is None:  # no C accelerator (another implementation of Python): plain dumps
        return None

    def dumps(value: Any) -> str:
        if isinstance(value, str):  # json.dumps special-cases a top-level str too
            return _encoder.encode_basestring_ascii(value)
        try:
            return "".join(encode(value, 0))
        except BaseException:
            markers.clear()  # an error can leave entries behind: the next call starts clean
            raise

    return dumps


dumps: Callable[[Any], str] = _reused_encoder() or json.dumps
