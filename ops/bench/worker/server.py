"""A one-worker uvicorn serving one implementation's consumer, or the bare Starlette loop.

Usage: python server.py IMPL KIND PORT REDIS_URL   (IMPL "bare" ignores KIND and REDIS_URL, as
does "preframed", an experiment: see preframed.py)

BENCH_UVICORN_WS (uvicorn's `ws`: auto, websockets, websockets-sansio, wsproto, or an import
string such as the kit's fast_channels.wsprotocol:SharedFrameProtocol) and
BENCH_UVICORN_DEFLATE=0 (`ws_per_message_deflate=False`) choose uvicorn's WebSocket
implementation and compression, for the scenario comparing them (issue 22). Unset, "ours" is
served as the kit serves it (its WebSocket protocol, where the tree has one: ops.bench.compare
runs older trees) and the others with uvicorn's defaults, as a user gets them; compression is
uvicorn's default (on) for all.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import resource
import sys
from typing import Any

GROUP = "bench-e2e"


def bare_app() -> Any:
    """The ceiling: every frame a client sends is written to every socket, nothing else."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    sockets: set[WebSocket] = set()

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        sockets.add(websocket)
        try:
            while True:
                frame = await websocket.receive_text()
                for socket in list(sockets):
                    try:
                        await socket.send_text(frame)
                    except Exception:
                        sockets.discard(socket)
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(websocket)

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)])


def uvicorn_ws(impl: str = "bare") -> tuple[str, bool]:
    """The WebSocket implementation and per-message-deflate setting `impl` is served with."""
    deflate = os.environ.get("BENCH_UVICORN_DEFLATE") != "0"
    ws = os.environ.get("BENCH_UVICORN_WS")
    if ws is None and impl == "ours":
        try:
            from fast_channels.wsprotocol import default_ws
        except ImportError:  # a tree from before the kit had its own protocol
            return "auto", deflate
        return default_ws(), deflate
    return ws or "auto", deflate


def ws_unavailable() -> str | None:
    """Why uvicorn cannot serve the asked-for WebSocket implementation here, or None."""
    ws, _ = uvicorn_ws()
    module = {"websockets": "websockets", "websockets-sansio": "websockets", "wsproto": "wsproto"}
    if ws in module and importlib.util.find_spec(module[ws]) is None:
        return f"uvicorn ws={ws} needs {module[ws]}, not installed in this venv"
    if ":" in ws and importlib.util.find_spec(ws.partition(":")[0]) is None:
        return f"uvicorn ws={ws}: no such module in this tree"  # an older tree (compare)
    return None


def apply_gc_settings() -> None:
    """FAST_CHANNELS_GC_THRESHOLD / FAST_CHANNELS_GC_FREEZE, as service.lifespan() applies them
    at startup (this server runs without a lifespan); nothing unless they are set, and nothing
    for a fast_channels tree older than gcsettings.py (ops.bench.compare runs old commits)."""
    try:
        from fast_channels import gcsettings
    except ImportError:
        return
    gcsettings.apply_threshold()
    gcsettings.freeze_if_asked()


def main() -> None:
    impl, kind, port, url = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import uvicorn

    app = (
        bare_app()
        if impl == "bare"
        else importlib.import_module("preframed").preframed_app()
        if impl == "preframed"
        else importlib.import_module(f"impl_{impl}").consumer_app(kind, url, GROUP)
    )
    if impl == "ours":
        apply_gc_settings()
    ws, deflate = uvicorn_ws(impl)
    uvicorn.run(
        app,
        ws=ws,
        ws_per_message_deflate=deflate,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_ping_interval=None,
        lifespan="off",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
