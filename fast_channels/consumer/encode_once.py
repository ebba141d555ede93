"""send_json's encoding done once per group message, not once per member.

A group_send reaches every member in this process as one shared delivery: each member's
message is its own top-level dict, but the nested values are the same objects (README,
"Messages": treat what you receive as read-only). The common handler sends one of them on,
`await self.send_json(event["message"])`, so a burst to 1,000 sockets encoded the same object
1,000 times (~2 µs each, CPython's C encoder, for a small dict).

Here the last few such encodings are remembered and reused, under rules that keep every
result what json.dumps would give now, for any handler that keeps to the read-only rule:
- only a top-level value of the group message being handled is remembered or reused: a value
  fresh for each group_send (copied at send, or decoded from Redis), never an object of the
  application's own (a dict it keeps and changes between sends) nor one it built per member;
- a consumer sending a value it has sent before while handling the same message (it may have
  changed it between its own two sends) has it re-encoded; the next member reuses that text.
A few encodings, not one: under load a consumer handles a burst's delivery and the next one's
back to back while others are still on the first, and one entry would thrash between the two.
The entries are one tuple, read and replaced whole: an event loop in another thread sees old
entries or new ones, never a text with another object.

A consumer that joined with recovery (recovery.py) sends its first dict of a message with the
message's position added, {**content, "_pos": position}: the same frame for every member, so
it is remembered under the pair (content, position), when both are values of the group
message, and a member re-encoding `content` drops every text of it, with a position or not.
"""

from __future__ import annotations

from typing import Any

from fast_channels.consumer._json import dumps

POS_KEY = "_pos"  # where a recovering consumer's frame carries its position (recovery.py)
_KEEP = 4  # bursts in flight at once, in practice 1-2 (a sender's window)
# ((content, the position added or None, their JSON text), ...), newest first. The content and
# position are held so that their ids cannot be reused by other objects while the entry stands.
_entries: tuple[tuple[Any, Any, str], ...] = ()


def _is_value_of(content: Any, message: dict[str, Any]) -> bool:
    for value in message.values():  # noqa: SIM110 -- a loop: no generator frame per send
        if value is content:
            return True
    return False


def _shared(content: Any, position: Any, message: dict[str, Any]) -> bool:
    """Whether what a frame is made of are values of the group message (see the docstring)."""
    return _is_value_of(content, message) and (position is None or _is_value_of(position, message))


def encode_shared(
    content: Any, message: dict[str, Any], sent_before: bool, position: Any = None
) -> str:
    """json.dumps(content), or of {**content, "_pos": position} given a position, reusing
    another member's text when `content` (and `position`) are the same values of the same
    group message (see the module's docstring). `sent_before`: the consumer sent this very
    object before while handling this message (what it keeps: _shared_sent)."""
    global _entries
    entries = _entries
    if not sent_before:
        for cached, cached_position, text in entries:
            if cached is content and cached_position is position:
                if _shared(content, position, message):
                    return text
                break
    text = dumps(content if position is None else {**content, POS_KEY: position})
    if type(content) in (dict, list) and _shared(content, position, message):
        # A re-encoding replaces every text of the content: its sender may have changed it.
        rest = tuple(
            entry
            for entry in entries
            if entry[0] is not content or (entry[1] is not position and not sent_before)
        )
        _entries = ((content, position, text), *rest[: _KEEP - 1])
    return text


def forget() -> None:
    """Drop the remembered entries (tests; nothing else needs it)."""
    global _entries
    _entries = ()
