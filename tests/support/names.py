"""The documented name rule, written independently of the layers' regexes: character by
character, with sets of characters, so a test comparing the two catches a pattern that drifts
(Unicode-aware \\d/\\w, `$` before a trailing newline)."""

from __future__ import annotations

import string
from typing import Any

NAME_CHARS = frozenset(string.ascii_letters + string.digits + "-_.")


def is_valid_group_name(name: Any) -> bool:
    """ASCII letters, digits, `-`, `_`, `.`; 1 to 99 characters."""
    return (
        isinstance(name, str) and 0 < len(name) < 100 and all(char in NAME_CHARS for char in name)
    )


def is_valid_channel_name(name: Any) -> bool:
    """A group name, or one with a single `!` after its first character."""
    if not isinstance(name, str) or not 0 < len(name) < 100:
        return False
    head, _, tail = name.partition("!")
    return (
        len(head) > 0
        and all(char in NAME_CHARS for char in head)
        and all(char in NAME_CHARS for char in tail)
    )
