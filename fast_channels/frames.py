"""WebSocket text frames as a server writes them (RFC 6455 5.2), each built once per text.

A broadcast sends one text to every member's socket: the consumers of a group message share
its JSON encoding (consumer/encode_once.py), and a handler forwarding `event["text"]` sends the
same str object to each socket. `shared_text_frame` builds the frame's bytes for such a text
once and hands the same bytes to every socket (wsprotocol.py writes them); a str cannot change,
so its identity is a sound key while the entry holds it.

With permessage-deflate (RFC 7692) agreed, a frame is compressed by a fresh compressor: its
bytes then inflate in any client, whatever that client inflated before, so the same bytes serve
every socket. A text that does not get smaller so is sent uncompressed, RSV1 clear: RFC 7692
leaves compression a choice made per message (section 6).
"""

from __future__ import annotations

import zlib

# A permessage-deflate compressor's settings other than its window: those uvicorn's
# websockets-sansio protocol agrees (uvicorn 0.35-0.55), kept by wsprotocol.py.
MEM_LEVEL = 5
# Frames remembered: bursts in flight at once are 1-2 (see encode_once.py); more than one, so
# that two interleaved bursts do not evict each other's frame at every socket.
_KEEP = 4
_EMPTY_BLOCK_TAIL = b"\x00\x00\xff\xff"  # ends every sync flush; not sent (RFC 7692 7.2.1)

# ((text, window bits or 0 for no compression, frame), ...), most recently used first: one
# tuple, read and replaced whole (an event loop in another thread sees old entries or new,
# never a mix).
_entries: tuple[tuple[str, int, bytes], ...] = ()


def text_frame(payload: bytes, window_bits: int = 0) -> bytes:
    """One final, unmasked text frame carrying `payload` (UTF-8); compressed within a window
    of 2**window_bits bytes when window_bits is set (9-15) and that makes it smaller."""
    first = 0x81  # FIN, text
    if window_bits:
        compressor = zlib.compressobj(wbits=-window_bits, memLevel=MEM_LEVEL)
        compressed = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if len(compressed) - len(_EMPTY_BLOCK_TAIL) < len(payload):
            payload, first = compressed[: -len(_EMPTY_BLOCK_TAIL)], 0xC1  # and RSV1
    size = len(payload)
    if size < 126:
        head = bytes((first, size))
    elif size < 1 << 16:
        head = bytes((first, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, 127)) + size.to_bytes(8, "big")
    return head + payload


def shared_text_frame(text: str, window_bits: int = 0) -> bytes:
    """text_frame(text.encode(), window_bits), built once for the same str object."""
    global _entries
    entries = _entries
    for entry in entries:
        if entry[0] is text and entry[1] == window_bits:
            if entry is not entries[0]:
                # Used again after others: to the front, so that a broadcast's frame outlives
                # the texts each socket gets of its own in between (least recently used goes).
                _entries = (entry, *[other for other in entries if other is not entry])
            return entry[2]
    frame = text_frame(text.encode(), window_bits)
    _entries = ((text, window_bits, frame), *entries[: _KEEP - 1])
    return frame


def forget() -> None:
    """Drop the remembered frames (tests; nothing else needs it)."""
    global _entries
    _entries = ()
