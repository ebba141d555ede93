"""End to end, server by server (issue 22): every server's deliveries/s against bare Starlette
of the same round, CPU per delivery, and uvicorn's WebSocket implementations side by side."""

from __future__ import annotations

import statistics
from typing import Any

from ops.bench.plan import WS_VARIANTS
from ops.bench.report import fmt, summarize, table

SERVER_LABELS = {
    "bare": "bare Starlette (uvicorn): the ceiling",
    "bare-kit": "bare Starlette on the kit's WebSocket protocol ¶",
    "ours-memory": "fast-channels (this tree), in memory",
    "ours-queue": "fast-channels (this tree), queue layer",
    "ours-pubsub": "fast-channels (this tree), pub/sub layer",
    "ours-memory-history": "fast-channels (this tree), in memory, recovery history on §",
    "ours-queue-history": "fast-channels (this tree), queue layer, recovery history on §",
    "ours-pubsub-history": "fast-channels (this tree), pub/sub layer, recovery history on §",
    "fc-memory": "fast-channels 1.1.0, in memory",
    "fc-queue": "fast-channels 1.1.0, queue layer",
    "fc-pubsub": "fast-channels 1.1.0, pub/sub layer",
    "socketio-node-memory": "Node Socket.IO 4, in-memory adapter",
    "socketio-node-redis": "Node Socket.IO 4, Redis adapter †",
    "socketio-py-memory": "python-socketio (uvicorn), in memory",
    "socketio-py-redis": "python-socketio (uvicorn), AsyncRedisManager ‡",
}

SERVER_NOTES = (
    "† Socket.IO's Redis adapter writes to the local sockets directly and only PUBLISHes the "
    "packet for other nodes (its own subscription drops what it published); ours send every "
    "group message through Redis and deliver what comes back, so that every process, this one "
    "included, gets it the same way. A room join is local to the Node process; ours is a Redis "
    "command (done before the timed broadcasts).\n\n"
    "‡ python-socketio's AsyncRedisManager publishes every emit and writes to the sockets "
    "(local ones included) from its listener task when the message comes back: like ours.\n\n"
    "§ The group keeps a history (100 messages, 600 s) and every client joins it with "
    'join_group() (README "Recovery"): each group_send records the message, and each frame '
    'carries its position, `"_pos": {"group", "epoch", "offset"}`, ~75 bytes more per frame.\n\n'
    "¶ Ours are served by the kit's WebSocket protocol (fast_channels/wsprotocol.py, the "
    "default of the demo CLI, the image and the chart): uvicorn's websockets-sansio writing a "
    "frame built once per text to every socket. Bare Starlette, which sends one str to every "
    "socket, gains from it too: this row. The goals are held to bare Starlette as uvicorn "
    "serves it by default (the first row).\n\n"
    "Also different: Node Socket.IO 4 does not compress (perMessageDeflate is off by default); "
    "uvicorn and python-socketio under it do, as the clients offer it (as browsers do). "
    "`e2e_ws_impls` shows what compression costs uvicorn. Socket.IO frames carry its packet "
    'prefix (`42["message",…]`), ~14 bytes more per frame. Every server is pinned to one CPU, '
    "the clients (one process, a raw-socket WebSocket / Engine.IO client on uvloop) to the "
    "other; Redis is not pinned."
)


def rounds(
    results: dict[str, Any], scenario: str, impl: str, other: str, metric: str = "rate"
) -> list[float]:
    """impl's `metric` / other's, round by round (both ran every round of an interleaved
    scenario); empty when either has no runs or their counts differ."""
    impls = results["scenarios"].get(scenario, {}).get("impls", {})
    ours, theirs = impls.get(impl, {}).get("runs"), impls.get(other, {}).get("runs")
    if not ours or not theirs or len(ours) != len(theirs):
        return []
    pairs = zip(ours, theirs, strict=True)
    return [a[metric] / b[metric] for a, b in pairs if b.get(metric) and metric in a]


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.2f}x"
    return f"{middle:.2f}x ({min(values):.2f}-{max(values):.2f})"


def _row(results: dict[str, Any], scenario: str, impl: str, base: str, label: str) -> list[str]:
    entry = results["scenarios"][scenario]["impls"][impl]
    summary = summarize(entry)
    if summary is None:
        why = entry.get("skipped") or entry.get("error") or "no runs"
        return [label, "-", f"not run: {why}", "-", "-", "-", "-", "-", "-"]
    return [
        label,
        fmt(summary["rate"]),
        _spread(rounds(results, scenario, impl, base)),
        fmt(summary.get("server_cpu_us")),
        _spread(rounds(results, scenario, impl, base, "server_cpu_us")),
        fmt(summary.get("client_cpu_us")),
        fmt(summary["p50_ms"]),
        fmt(summary["p99_ms"]),
        f"{summary['lost']} of {summary['sent']}",
    ]


HEADER = [
    "server",
    "deliveries/s (median)",
    "÷ {base}, round by round: median (min-max)",
    "server CPU µs/delivery",
    "÷ {base}'s, round by round",
    "clients' CPU µs/delivery",
    "p50 ms",
    "p99 ms",
    "lost",
]


def servers_section(results: dict[str, Any], scenario: str = "e2e_N1000") -> list[str]:
    """Every server of an end-to-end scenario against bare Starlette of the same rounds."""
    entry = results["scenarios"].get(scenario)
    if not entry or "bare" not in entry.get("impls", {}):
        return []
    header = [h.format(base="bare Starlette") for h in HEADER]
    order = list(SERVER_LABELS)  # the ceiling first, then ours, the 1.x peer, Socket.IO
    impls = sorted(entry["impls"], key=lambda i: order.index(i) if i in order else len(order))
    rows = [_row(results, scenario, impl, "bare", SERVER_LABELS.get(impl, impl)) for impl in impls]
    loads = [
        run.get("load_before") for data in entry["impls"].values() for run in data.get("runs", [])
    ]
    seen = [x for x in loads if isinstance(x, (int, float))]
    load = f" Load average before the runs: {min(seen):.1f}-{max(seen):.1f}." if seen else ""
    return [
        f"## End to end, server by server ({scenario})\n",
        f"{entry['params'].get('clients')} clients and a broadcaster, "
        f"{entry['params'].get('repeat')} interleaved rounds; the ratio is each round's rate "
        f"over bare Starlette's in the same round. On a loaded machine the rate follows the "
        "other load; the server's CPU per delivery (and its ratio) is the steadier figure."
        f"{load}\n",
        table(header, rows),
        SERVER_NOTES + "\n",
    ]


def ws_impls_section(results: dict[str, Any], scenario: str = "e2e_ws_impls") -> list[str]:
    """uvicorn's WebSocket implementations and per-message-deflate on our in-memory layer,
    against uvicorn's default (the first of plan.WS_VARIANTS) of the same rounds."""
    entry = results["scenarios"].get(scenario)
    if not entry or not entry.get("impls"):
        return []
    # Plan order, uvicorn's default first (results.json keeps its keys sorted).
    order = [impl.name for impl in WS_VARIANTS]
    impls = sorted(entry["impls"], key=lambda i: order.index(i) if i in order else len(order))
    base = order[0] if order[0] in impls else impls[0]
    header = [h.format(base=base.removeprefix("ours-memory-")) for h in HEADER]
    rows = [
        _row(results, scenario, impl, base, impl.removeprefix("ours-memory-")) for impl in impls
    ]
    return [
        f"## uvicorn's WebSocket implementations ({scenario})\n",
        "Our in-memory layer end to end, served by uvicorn with `--ws` set to each "
        "implementation, per-message-deflate on (uvicorn's default) or off "
        "(`--ws-per-message-deflate false`), interleaved round by round. "
        f"`{base.removeprefix('ours-memory-')}` is what uvicorn's `auto` picks.\n",
        table(header, rows),
    ]
