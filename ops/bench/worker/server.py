"""A one-worker uvicorn serving one implementation's consumer, or the bare Starlette loop.

Usage: python server.py IMPL KIND PORT REDIS_URL   (IMPL "bare" ignores KIND and REDIS_URL)
"""

from __future__ import annotations

import importlib
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


def main() -> None:
    impl, kind, port, url = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import uvicorn

    app = (
        bare_app()
        if impl == "bare"
        else importlib.import_module(f"impl_{impl}").consumer_app(kind, url, GROUP)
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_ping_interval=None,
        lifespan="off",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
