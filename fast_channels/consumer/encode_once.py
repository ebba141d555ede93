"""send_json's encoding done once per group message, not once per member.

A group_send reaches every member in this process as one shared delivery: each member's
message is its own top-level dict, but the nested values are the same objects (README,
"Messages": treat what you receive as read-only). The common handler sends one of them on,
`await self.send_json(event["message"])`, so a burst to 1,000 sockets encoded the same object
1,000 times (~2 µs each, CPython's C encoder, for a small dict).

Here the last such encoding is remembered and reused, under rules that keep every result what
json.dumps would give now, for any handler that keeps to the read-only rule:
- only a top-level value of the group message being handled is remembered or reused: a value
  fresh for each group_send (copied at send, or decoded from Redis), never an object of the
  application's own (a dict it keeps and changes between sends) nor one it built per member;
- the consumer that encoded it re-encodes it if it sends it again (it may have changed it
  between its own two sends); the next member reuses the text and becomes the one that did.
The entry is one tuple, read and replaced whole: an event loop in another thread sees an old
entry or a new one, never a text with another object.
"""

from __future__ import annotations

from typing import Any

from fast_channels.consumer._json import dumps

# (content, its JSON text, id() of the consumer that last used the text). The content is held
# so that its id cannot be reused by another object while the entry stands.
_last: tuple[Any, str, int] = (None, "null", 0)


def _is_value_of(content: Any, message: dict[str, Any]) -> bool:
    for value in message.values():  # noqa: SIM110 -- a loop: no generator frame per send
        if value is content:
            return True
    return False


def encode_shared(content: Any, message: dict[str, Any], consumer: object) -> str:
    """json.dumps(content), reusing the previous member's text when `content` is the same
    value of the same group message (see the module's docstring)."""
    global _last
    last = _last
    if content is last[0] and last[2] != id(consumer) and _is_value_of(content, message):
        _last = (content, last[1], id(consumer))
        return last[1]
    text = dumps(content)
    if type(content) in (dict, list) and _is_value_of(content, message):
        _last = (content, text, id(consumer))
    return text


def forget() -> None:
    """Drop the remembered entry (tests; nothing else needs it)."""
    global _last
    _last = (None, "null", 0)
