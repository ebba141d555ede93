"""Command line: python -m ops.loadgen --url ws://HOST[:PORT] --clients N --rooms M --rate R ..."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from ops.loadgen.runner import Config, run

DEMO_FRAME = '{"action": "chat"}'


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ops.loadgen",
        description="N WebSocket clients in M rooms send at a total rate for a duration; every "
        "member measures client-to-client delivery latency. Stops by itself.",
        formatter_class=_DefaultsFormatter,
    )
    p.add_argument("--url", required=True, help="ws(s)://host[:port], or a full URL with {room}")
    p.add_argument("--clients", type=int, default=10, help="sockets to open")
    p.add_argument("--rooms", type=int, default=1, help="rooms the clients spread over")
    p.add_argument("--rate", type=float, default=10.0, help="messages/s, all clients together")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of sending")
    p.add_argument(
        "--path",
        default="/ws/chat/{room}",
        help="path template, appended to a --url without {room}",
    )
    p.add_argument("--key", default="message", help="payload key sent and read back")
    p.add_argument(
        "--frame", type=_json_object, default=DEMO_FRAME,
        help="other fields of every frame, a JSON object; the default is the demo's chat",
    )  # fmt: skip
    p.add_argument("--room-prefix", default="loadgen", help="rooms are PREFIX-0 .. PREFIX-(M-1)")
    p.add_argument("--drain", type=float, default=2.0, help="seconds to wait for late deliveries")
    p.add_argument("--connect-timeout", type=float, default=10.0, help="seconds per connection")
    p.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    p.add_argument(
        "--recover", action="store_true",
        help="clients reconnect after any close and recover what they missed "
        "(fast_channels.client, wire protocol v1): every member must get every message",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    return p


def config_from(args: argparse.Namespace) -> Config:
    url = args.url if "{room}" in args.url else args.url.rstrip("/") + args.path
    return Config(
        url=url,
        clients=args.clients,
        rooms=args.rooms,
        rate=args.rate,
        duration=args.duration,
        key=args.key,
        extra=args.frame,
        room_prefix=args.room_prefix,
        drain=args.drain,
        connect_timeout=args.connect_timeout,
        progress=None if args.quiet else sys.stderr,
        recover=args.recover,
    )


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if not args.url.startswith(("ws://", "wss://")):
        p.error(f"--url must start with ws:// or wss://, got {args.url!r}")
    if args.clients < 1 or args.rooms < 1 or args.rate < 0 or args.duration <= 0:
        p.error("--clients and --rooms must be >= 1, --rate >= 0, --duration > 0")
    report = asyncio.run(run(config_from(args)))
    print(report.summary())
    if args.json is not None:
        args.json.write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    failed = report.connected == 0 or (report.sent > 0 and report.received == 0)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
