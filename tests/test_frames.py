"""frames.py: the text frames the kit's WebSocket protocol writes, checked against websockets'
own framing and inflated by its permessage-deflate decoder, context kept (as browsers and
websockets' clients do by default), so each frame is read after every earlier one."""

from __future__ import annotations

import random
from collections.abc import Generator, Iterator

import pytest
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

from fast_channels import frames

# 7-, 16- and 64-bit payload lengths, each side of the boundaries between them.
SIZES = [0, 1, 125, 126, 4_000, 65_535, 65_536, 200_000]


@pytest.fixture(autouse=True)
def no_remembered_frames() -> Iterator[None]:
    frames.forget()
    yield
    frames.forget()


def parse(data: bytes, extensions: list[PerMessageDeflate]) -> Frame:
    """A server frame as a client reads it (websockets' parser, its extensions decoding)."""
    view = memoryview(data)
    offset = 0

    def read_exact(n: int) -> Generator[None, None, bytes]:
        nonlocal offset
        chunk = bytes(view[offset : offset + n])
        assert len(chunk) == n, "the frame is shorter than its header says"
        offset += n
        return chunk
        yield  # a generator, as Frame.parse expects

    parser = Frame.parse(read_exact, mask=False, max_size=None, extensions=extensions)
    try:
        next(parser)
    except StopIteration as done:
        assert offset == len(data), "bytes after the frame"
        frame: Frame = done.value
        return frame
    raise AssertionError("the parser wanted more bytes")


def client_inflater(window_bits: int = 12) -> PerMessageDeflate:
    """A client's permessage-deflate that keeps its inflate context between messages."""
    return PerMessageDeflate(
        remote_no_context_takeover=False,
        local_no_context_takeover=False,
        remote_max_window_bits=window_bits,
        local_max_window_bits=window_bits,
    )


def texts() -> list[str]:
    rng = random.Random(7)
    out = []
    for size in SIZES:
        out.append("".join(rng.choice("abc") for _ in range(size)))  # compresses
        out.append("".join(chr(rng.randrange(32, 0x3000)) for _ in range(size // 3)))  # UTF-8
    return out


@pytest.mark.parametrize("size", SIZES)
def test_an_uncompressed_frame_is_byte_for_byte_what_websockets_writes(size: int) -> None:
    payload = bytes(random.Random(size).randrange(256) for _ in range(size))
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False)
    assert frames.text_frame(payload) == expected


@pytest.mark.parametrize("window_bits", [9, 12, 15])
def test_compressed_frames_inflate_in_a_client_that_keeps_its_context(window_bits: int) -> None:
    inflater = client_inflater(window_bits)
    sent = texts() * 2  # the second time round, the window holds the first round's bytes
    compressed = 0
    for text in sent:
        data = frames.text_frame(text.encode(), window_bits)
        frame = parse(data, [inflater])
        assert frame.opcode is Opcode.TEXT
        assert frame.fin
        assert bytes(frame.data).decode() == text
        compressed += data[0] & 0x40 != 0
    assert compressed >= len(SIZES)  # the repetitive texts were compressed (RSV1 set)


def test_a_text_that_compression_does_not_shrink_is_sent_uncompressed() -> None:
    payload = b'{"n":1}'
    data = frames.text_frame(payload, 12)
    assert data == frames.text_frame(payload)  # RSV1 clear, the payload as is
    assert parse(data, [client_inflater()]).data == payload
    long = b'{"body":"' + b"hello " * 100 + b'"}'
    assert frames.text_frame(long, 12)[0] == 0xC1  # this one shrinks: FIN, RSV1, text
    assert len(frames.text_frame(long, 12)) < len(long)


def test_a_frame_is_built_once_per_str_object_and_compression_setting() -> None:
    text = "x" * 300
    first = frames.shared_text_frame(text, 12)
    assert frames.shared_text_frame(text, 12) is first  # the same bytes object: not rebuilt
    plain = frames.shared_text_frame(text, 0)
    assert plain is not first
    assert plain == frames.text_frame(text.encode())
    twin = "".join(["x" * 150, "x" * 150])  # equal, another object: a frame of its own
    assert twin == text
    assert twin is not text
    assert frames.shared_text_frame(twin, 12) is not first
    assert frames.shared_text_frame(twin, 12) == first


def test_a_few_frames_are_remembered_and_the_oldest_forgotten() -> None:
    burst = [f"burst {n} " * 20 for n in range(5)]
    built = [frames.shared_text_frame(text, 12) for text in burst]
    # Two interleaved bursts still find their frames...
    assert frames.shared_text_frame(burst[4], 12) is built[4]
    assert frames.shared_text_frame(burst[1], 12) is built[1]
    # ... while the oldest of five, past what is kept, is built again (equal bytes).
    again = frames.shared_text_frame(burst[0], 12)
    assert again is not built[0]
    assert again == built[0]


def test_a_broadcast_frame_outlives_the_texts_sent_to_one_socket_in_between() -> None:
    """A burst to 100 sockets where each also gets a text of its own: one frame for the
    broadcast, built once, however many own texts pass through between two of its uses."""
    shared = "the broadcast " * 20
    first = frames.shared_text_frame(shared, 12)
    for socket in range(100):
        assert frames.shared_text_frame(shared, 12) is first, socket
        for n in range(3):
            frames.shared_text_frame(f"own {socket} {n}", 12)
