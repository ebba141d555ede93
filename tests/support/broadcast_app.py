"""A raw ASGI app for the kit's WebSocket protocol's tests (tests/test_wsprotocol*.py): a
page at "/" whose script joins the room and keeps what it receives, and the room at "/ws".
A text "burst" from any socket sends, to every socket in turn, each of texts() (one str for
all: the frames the protocol builds once), a text of that socket's own, and the shared text
as a binary frame; then "done".
"""

from __future__ import annotations

import random
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected

# Each frame kept as ["t", text] or ["b", the binary frame's bytes decoded as UTF-8].
PAGE = b"""<!doctype html><title>room</title><script>
window.got = []; window.opened = false;
window.ws = new WebSocket(`ws://${location.host}/ws`);
ws.binaryType = "arraybuffer";
ws.onopen = () => { window.opened = true; };
ws.onmessage = (e) => window.got.push(
  typeof e.data === "string" ? ["t", e.data] : ["b", new TextDecoder().decode(e.data)]);
</script>"""


def texts() -> list[str]:
    """Texts of every frame-length class (7-, 16-, 64-bit), compressible or not, ASCII or not."""
    rng = random.Random(22)
    out = ['{"n":1}', "é" * 40]
    for size in (125, 126, 5_000, 65_535, 70_000):
        out.append("ab" * (size // 2) + "a" * (size % 2))
        out.append("".join(chr(rng.randrange(33, 127)) for _ in range(size)))
    return out


def expected(index: int) -> list[str | bytes]:
    """What socket `index` (in the order they connected) receives for one burst."""
    out: list[str | bytes] = []
    for n, text in enumerate(texts()):
        out += [text, f"own {index} {n}", text.encode()]
    return [*out, "done"]


class Room:
    def __init__(self) -> None:
        self.sends: list[Any] = []
        self.texts = texts()
        self.after_close: list[BaseException | None] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/html")]})  # fmt: skip
            await send({"type": "http.response.body", "body": PAGE})
            return
        if scope["type"] != "websocket":
            return  # lifespan: nothing to start
        await receive()
        await send({"type": "websocket.accept"})
        index = len(self.sends)
        self.sends.append(send)
        while (message := await receive())["type"] == "websocket.receive":
            if message.get("text") == "burst":
                await self.burst()
        # The client closed: a send now must fail as uvicorn's own protocol fails it.
        try:
            await send({"type": "websocket.send", "text": self.texts[0]})
            self.after_close.append(None)
        except ClientDisconnected as error:
            self.after_close.append(error)
        self.sends[index] = None

    async def burst(self) -> None:
        for n, text in enumerate(self.texts):
            for index, send in enumerate(self.sends):
                if send is None:
                    continue
                await send({"type": "websocket.send", "text": text})
                await send({"type": "websocket.send", "text": f"own {index} {n}"})
                await send({"type": "websocket.send", "bytes": text.encode()})
        for send in self.sends:
            if send is not None:
                await send({"type": "websocket.send", "text": "done"})


app = Room()
