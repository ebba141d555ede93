"""Node Socket.IO 4 (ops/bench/socketio_node/server.js): a peer end to end, measured, not
copied. Kinds: "memory" (Socket.IO's in-memory adapter) and "redis" (@socket.io/redis-adapter,
which writes to local sockets directly and only PUBLISHes for other nodes)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

KINDS = ["memory", "redis"]
SOURCE = Path(__file__).resolve().parent.parent / "socketio_node"
WS_PATH = "/socket.io/?EIO=4&transport=websocket"
ENGINEIO = True


def available(kind: str) -> str | None:
    """None when the server can run here (installing its packages with `npm ci` on first use,
    from package-lock.json), else why not."""
    if kind not in KINDS:
        return f"unknown Socket.IO adapter {kind!r}"
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not on the PATH (Node Socket.IO needs Node >= 18 and npm)"
    if not (SOURCE / "node_modules" / "socket.io").is_dir():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=SOURCE,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            return f"npm ci in {SOURCE} failed ({done.returncode}): {tail}"
    return None


def server_command(kind: str, port: int, url: str) -> list[str]:
    return [shutil.which("node") or "node", str(SOURCE / "server.js"), str(port), url, kind]
