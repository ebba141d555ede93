"""`fast-channels demo` and `fast-channels worker` (also `python -m fast_channels`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

from fast_channels import __version__, gcsettings, handshake
from fast_channels.demo.layer import LayerUnavailableError, make_layer, require_reachable
from fast_channels.demo.worker import DEFAULT_STEP_DELAY, JOBS_CHANNEL, serve

DEMO_HELP = f"""\
Serve the demo chat app (http://HOST:PORT/) with uvicorn.

Without --redis-url the channel layer is in-memory: nothing outside this process can share it,
so the job worker runs as a background task inside the server (--no-worker turns it off).
With --redis-url the layer is Redis and the worker is a separate process listening on the
{JOBS_CHANNEL!r} channel: this command starts one for you (--no-worker: run
`fast-channels worker --redis-url URL` yourself, as many as you like)."""

WORKER_HELP = f"""\
Run the job worker as its own process: it takes job requests from the {JOBS_CHANNEL!r} layer
channel and streams {{"type": "job.progress", "percent": n}} to the requesting socket.
It needs the Redis layer: an in-memory layer cannot be shared between processes."""

_TOP_LEVEL_OPTIONS = ("-h", "--help", "--version")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fast-channels",
        description="The fast_channels demo. Without a command, `demo` runs.",
    )
    parser.add_argument("--version", action="version", version=f"fast-channels {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{demo,worker}")
    fmt = argparse.RawDescriptionHelpFormatter
    demo = commands.add_parser("demo", help="serve the chat demo", description=DEMO_HELP,
                               formatter_class=fmt)  # fmt: skip
    demo.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    demo.add_argument("--redis-url", help="use the Redis layer, e.g. redis://127.0.0.1:6379/0")
    demo.add_argument("--no-worker", action="store_true", help="do not run a job worker")
    demo.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    demo.add_argument(
        "--handshake-timeout", type=_handshake_timeout, metavar="SECONDS",
        default=os.environ.get(handshake.ENV) or handshake.DEFAULT_TIMEOUT,
        help="close a connection whose request (WebSocket handshake) is not complete after "
        f"SECONDS (default ${handshake.ENV}, else {handshake.DEFAULT_TIMEOUT:g})",
    )  # fmt: skip
    _add_server_options(demo)
    worker = commands.add_parser("worker", help="run the job worker process",
                                 description=WORKER_HELP, formatter_class=fmt)  # fmt: skip
    worker.add_argument("--redis-url", required=True, help="the Redis the demo servers use")
    worker.add_argument("--exit-with-parent", type=int, metavar="PID", help=argparse.SUPPRESS)
    for sub in (demo, worker):
        sub.add_argument("--step-delay", type=float, default=DEFAULT_STEP_DELAY,
                         help=f"seconds per job step (default {DEFAULT_STEP_DELAY})")  # fmt: skip
    return parser


def _add_server_options(demo: argparse.ArgumentParser) -> None:
    """uvicorn's WebSocket implementation and compression, and the garbage collector's
    settings: what the kit serves with (README "Serving: uvicorn and the garbage collector")."""
    demo.add_argument(
        "--ws", default=os.environ.get("UVICORN_WS") or default_ws(),
        help="uvicorn's WebSocket implementation (default $UVICORN_WS, else "
        f"{default_ws()}: the cheapest per frame on this uvicorn)",
    )  # fmt: skip
    demo.add_argument(
        "--ws-per-message-deflate", type=_flag, metavar="BOOL",
        default=_flag(os.environ.get("UVICORN_WS_PER_MESSAGE_DEFLATE") or "false"),
        help="compress WebSocket frames (permessage-deflate) for clients that offer it "
        "(default $UVICORN_WS_PER_MESSAGE_DEFLATE, else false; under the kit's protocol a "
        "broadcast's frame is compressed once, each message on its own)",
    )  # fmt: skip
    demo.add_argument(
        "--gc-threshold", type=_gc_threshold, metavar="N[,N[,N]]",
        default=os.environ.get(gcsettings.THRESHOLD_ENV) or None,
        help=f"gc.set_threshold() at startup (default ${gcsettings.THRESHOLD_ENV}, else "
        "Python's), e.g. 50000,20,20 for thousands of sockets",
    )  # fmt: skip
    demo.add_argument(
        "--gc-freeze", type=_flag, metavar="BOOL",
        default=_flag(os.environ.get(gcsettings.FREEZE_ENV) or "false"),
        help=f"gc.freeze() once the app has started (default ${gcsettings.FREEZE_ENV}, else "
        "false): startup's objects leave every later collection",
    )  # fmt: skip


def default_ws() -> str:
    """uvicorn's `ws` the kit serves with: its own protocol, uvicorn's websockets-sansio
    writing a frame built once per text to every socket (fast_channels/wsprotocol.py), the
    cheapest per frame measured (ops/bench e2e_ws_impls); `auto` on uvicorn before 0.35."""
    from fast_channels.wsprotocol import default_ws as kit_ws

    return kit_ws()


def _flag(value: str) -> bool:
    try:
        return gcsettings.parse_freeze(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}") from None


def _gc_threshold(value: str) -> str:
    try:
        gcsettings.parse_threshold(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _handshake_timeout(value: str) -> float:
    try:
        return handshake.parse_timeout(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # `demo` is the default command, also when only its options are given (`--port 9000`);
    # any other word is left to argparse, which names the commands there are.
    first = args_list[0] if args_list else None
    if first is None or (first.startswith("-") and first not in _TOP_LEVEL_OPTIONS):
        args_list.insert(0, "demo")
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        if args.command == "worker":
            return run_worker_process(args.redis_url, args.step_delay, args.exit_with_parent)
        return run_demo(args)
    except LayerUnavailableError as error:
        parser.exit(2, f"fast-channels: error: {error}\n")


def run_worker_process(redis_url: str, step_delay: float, parent: int | None = None) -> int:
    require_reachable(redis_url)
    asyncio.run(serve(make_layer(redis_url), step_delay, parent))
    return 0


def run_demo(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from fast_channels.demo.app import WorkerMode, create_app
    except ImportError as error:
        raise SystemExit(
            f"fast-channels demo needs FastAPI ({error}, the 'demo' extra): "
            "pip install 'fastapi>=0.110'"
        ) from error
    mode: WorkerMode
    if args.redis_url is not None:
        # With Redis, --no-worker only means "not spawned here": workers may run elsewhere.
        mode, spawn = "external", not args.no_worker
    else:
        mode, spawn = ("none" if args.no_worker else "in-process"), False
    # Both before the server starts: a bad URL or a Redis that is down is one clear line.
    # The app's lifespan (service.lifespan) applies these at startup (gcsettings.py).
    if args.gc_threshold is not None:
        os.environ[gcsettings.THRESHOLD_ENV] = args.gc_threshold
    os.environ[gcsettings.FREEZE_ENV] = "1" if args.gc_freeze else "0"
    app = create_app(redis_url=args.redis_url, worker=mode, step_delay=args.step_delay)
    if args.redis_url is not None:
        require_reachable(args.redis_url)
    worker = _spawn_worker(args.redis_url, args.step_delay) if spawn else None
    # uvicorn re-raises SIGTERM after its graceful shutdown; the default action would kill us
    # before `finally` stops the worker, so SIGTERM becomes an exception here instead.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        # uvicorn alone never closes a connection that does not finish its first request
        # (see fast_channels/handshake.py); its default HTTP protocol, with that bound.
        http = handshake.handshake_protocol(float(args.handshake_timeout))
        uvicorn.run(
            app, host=args.host, port=args.port, log_level=args.log_level, http=http,
            ws=args.ws, ws_per_message_deflate=args.ws_per_message_deflate,
        )  # fmt: skip
    finally:
        if worker is not None:
            _stop(worker)
    return 0


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _spawn_worker(redis_url: str, step_delay: float) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "fast_channels", "worker", "--redis-url", redis_url]
    # --exit-with-parent: even if this process is SIGKILLed, its worker does not outlive it.
    options = ["--step-delay", str(step_delay), "--exit-with-parent", str(os.getpid())]
    return subprocess.Popen([*command, *options])


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()  # the worker handles SIGTERM: cancels its jobs, closes the layer
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
