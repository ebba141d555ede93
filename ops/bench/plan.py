"""What runs: implementations (which venv, which layer kind) and scenarios with their sizes.

Sizes are chosen so the full run stays under ~45 minutes on a 2-core machine. Every run sends
for at most `timeout` seconds (then drains): the slow peers send fewer than the planned 20,000
point-to-point messages in that time, and the table says how many were sent ("unsent").
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VENVS = HERE / ".venvs"
REPO = HERE.parent.parent


@dataclass(frozen=True)
class Impl:
    name: str  # our label, e.g. "ours-queue"
    module: str  # worker adapter: impl_<module>.py ("raw" and "bare" have none)
    kind: str  # queue | pubsub | memory
    venv: str | None  # None: the project venv; else ops/bench/.venvs/<venv>
    env: dict[str, str] = field(default_factory=dict)

    @property
    def python(self) -> Path:
        if self.venv is None:
            return Path(sys.executable)  # the project venv running the harness
        return VENVS / self.venv / "bin" / "python"


OURS_QUEUE = Impl("ours-queue", "ours", "queue", None)
OURS_PUBSUB = Impl("ours-pubsub", "ours", "pubsub", None)
OURS_MEMORY = Impl("ours-memory", "ours", "memory", None)
FC_QUEUE = Impl("fc-queue", "fc", "queue", "peer-fc")
FC_PUBSUB = Impl("fc-pubsub", "fc", "pubsub", "peer-fc")
FC_MEMORY = Impl("fc-memory", "fc", "memory", "peer-fc")
CR_QUEUE = Impl("cr-queue", "cr", "queue", "peer-cr")
CR_PUBSUB = Impl("cr-pubsub", "cr", "pubsub", "peer-cr")
BARE = Impl("bare", "bare", "-", None)
RAW = Impl("raw", "raw", "-", None)
OURS_QUEUE_NO_METRICS = Impl(
    "ours-queue-nometrics", "ours", "queue", None, {"FAST_CHANNELS_METRICS": "0"}
)


def with_history(impl: Impl, history: str = "100:600") -> Impl:
    """`impl` with recovery on (issue 22: "a group with recovery history on >= 0.6x bare
    Starlette"): the layer keeps `history` ("size:ttl") for the bench group and the clients
    join it with join_group(), so each frame carries its "_pos" (worker/impl_ours.py)."""
    env = {**impl.env, "BENCH_GROUP_HISTORY": history}
    return Impl(f"{impl.name}-history", impl.module, impl.kind, impl.venv, env)


OURS_HISTORY = [with_history(impl) for impl in (OURS_MEMORY, OURS_QUEUE, OURS_PUBSUB)]

# The end-to-end anchors (issue 22): Socket.IO, the Node original and the Python port, each
# with its in-memory and its Redis adapter/manager, beside bare Starlette and ours.
SOCKETIO_NODE_MEMORY = Impl("socketio-node-memory", "socketio_node", "memory", None)
SOCKETIO_NODE_REDIS = Impl("socketio-node-redis", "socketio_node", "redis", None)
SOCKETIO_PY_MEMORY = Impl("socketio-py-memory", "socketio_py", "memory", None)
SOCKETIO_PY_REDIS = Impl("socketio-py-redis", "socketio_py", "redis", None)
SOCKETIO = [SOCKETIO_NODE_MEMORY, SOCKETIO_NODE_REDIS, SOCKETIO_PY_MEMORY, SOCKETIO_PY_REDIS]


def uvicorn_variant(impl: Impl, ws: str, deflate: bool, label: str | None = None) -> Impl:
    """`impl` served by uvicorn with WebSocket implementation `ws` (named `label` in the
    impl's name, default `ws`) and per-message-deflate on or off (worker/server.py reads the
    env); "auto" with deflate on is uvicorn's default."""
    name = f"{impl.name}-{label or ws}" + ("" if deflate else "-nodeflate")
    env = {**impl.env, "BENCH_UVICORN_WS": ws, "BENCH_UVICORN_DEFLATE": "1" if deflate else "0"}
    return Impl(name, impl.module, impl.kind, impl.venv, env)


# The kit's WebSocket protocol (fast_channels/wsprotocol.py): what the demo CLI, the image and
# the chart serve with, and "ours" here unless BENCH_UVICORN_WS says otherwise (server.py).
KIT_WS = "fast_channels.wsprotocol:SharedFrameProtocol"
# uvicorn 0.35+: "auto" is websockets-sansio when websockets is installed (else wsproto).
# label -> uvicorn's `ws`.
UVICORN_WS = {
    "websockets-sansio": "websockets-sansio",
    "websockets": "websockets",
    "wsproto": "wsproto",
    "kit": KIT_WS,
}
WS_VARIANTS = [
    uvicorn_variant(OURS_MEMORY, ws, deflate, label)
    for deflate in (True, False)
    for label, ws in UVICORN_WS.items()
]
# Bare Starlette served by the kit's protocol: it sends one str to every socket, so its frames
# are built once too. Beside "bare" (uvicorn's default), the ceiling the goals are held to.
BARE_KIT = Impl("bare-kit", "bare", "-", None, {"BENCH_UVICORN_WS": KIT_WS})

LAYERS = [OURS_QUEUE, OURS_PUBSUB, FC_QUEUE, FC_PUBSUB, CR_QUEUE, CR_PUBSUB]
SERVERS = [BARE, OURS_MEMORY, OURS_QUEUE, OURS_PUBSUB, FC_MEMORY, FC_QUEUE, FC_PUBSUB]

# Who is compared with whom: our implementation -> (fast-channels 1.1.0, channels-redis 4.3.0).
PEERS = {
    "ours-queue": ("fc-queue", "cr-queue"),
    "ours-pubsub": ("fc-pubsub", "cr-pubsub"),
    "ours-memory": ("fc-memory", None),
    # No peer has history: their rows carry the target against bare Starlette only.
    **{impl.name: (None, None) for impl in OURS_HISTORY},
}

GROUP_SIZES = [10, 100, 1000, 10000]
# Messages per fan-out run: 20,000 to 100,000 deliveries, fewer messages as the group grows.
# Ours deliver them in ~0.2-1 s: shorter runs (20 sends at G=1,000 was 0.15 s) followed the
# machine's moment-to-moment speed more than the implementation.
FANOUT_MESSAGES = {10: 2000, 100: 500, 1000: 100, 10000: 10}

# The worker scenarios whose figures are ratios of implementations run side by side.
COMPARED_WORKERS = frozenset({"p2p", "pingpong", "fanout", "many_groups", "e2e"})


@dataclass(frozen=True)
class Scenario:
    id: str
    worker: str  # the worker scenario function
    impls: list[Impl]
    params: dict[str, Any]
    metrics: list[str]  # the figures the table shows, first one is the headline

    @property
    def interleaved(self) -> bool:
        """Run 1 of every implementation, then run 2 of each, and so on (one subprocess per
        run), instead of all runs of one implementation back to back: ours are compared with
        the peers and the bare server of the same rounds, and the machine's speed drifts by
        more than the margins over the minutes a scenario takes (back to back, ours' three
        pub/sub fan-out runs at G=10,000 gave 78.5k, 50.3k and 47.9k deliveries/s on
        2026-12-01). Not: the ceilings, the command counts (deterministic) and memory."""
        return self.worker in COMPARED_WORKERS


def scenarios(quick: bool) -> list[Scenario]:
    timeout = 5.0 if quick else 8.0  # seconds of sending per run; then a drain of >= 2 s
    repeat = 1 if quick else 3
    sizes = [100] if quick else GROUP_SIZES
    lat = ["rate", "p50_ms", "p99_ms"]
    plan = [
        Scenario(
            "ceilings", "ceilings", [RAW], {"count": 2000 if quick else 10000, "repeat": repeat}, []
        ),
        Scenario(
            "p2p", "p2p", LAYERS, {"messages": 1000 if quick else 20000, "timeout": timeout}, lat
        ),
        Scenario(
            "p2p_100_senders",
            "p2p",
            LAYERS,
            {"messages": 1000 if quick else 20000, "senders": 100, "timeout": timeout},
            lat,
        ),
        Scenario(
            "pingpong",
            "pingpong",
            LAYERS,
            {"rounds": 100 if quick else 1000, "timeout": timeout},
            ["rtt_p50_ms", "rtt_p99_ms"],
        ),
    ]
    for instances in (1,) if quick else (1, 4):
        for size in sizes:
            messages = max(5, FANOUT_MESSAGES[size] // (10 if quick else 1))
            plan.append(
                Scenario(
                    f"fanout_G{size}" + ("" if instances == 1 else f"_x{instances}"),
                    "fanout",
                    LAYERS,
                    {
                        "size": size,
                        "messages": messages,
                        "instances": instances,
                        "timeout": timeout,
                    },
                    [*lat, "max_ms"],
                )
            )
    plan += [
        Scenario(
            "many_groups",
            "many_groups",
            LAYERS,
            {
                "groups": 100 if quick else 1000,
                "members": 5,
                "sends": 500 if quick else 5000,
                "timeout": timeout,
            },
            lat,
        ),
        Scenario(
            "metrics_overhead_G1000",
            "fanout",
            [OURS_QUEUE, OURS_QUEUE_NO_METRICS],
            {"size": 1000, "messages": 5 if quick else 50, "instances": 1, "timeout": timeout},
            lat,
        ),
    ]
    for size in (10,) if quick else (10, 1000):
        for instances in (1,) if quick else (1, 4):
            plan.append(
                Scenario(
                    f"commands_G{size}_x{instances}",
                    "commands",
                    LAYERS,
                    {"size": size, "instances": instances, "sends": 10, "repeat": 1},
                    ["client_commands", "all_commands"],
                )
            )
    plan += [
        # 5 rounds, 60 broadcasts (60,060 frames, 2-4 s for ours and bare) each: the 0.5x
        # target is checked round by round (report.paired_ratio).
        Scenario(
            "e2e_N1000",
            "e2e",
            [*SERVERS, BARE_KIT, *OURS_HISTORY, *SOCKETIO],
            {
                "clients": 100 if quick else 1000,
                "messages": 5 if quick else 60,
                "timeout": timeout,
                "repeat": repeat if quick else 5,
            },
            [*lat, "server_cpu_us"],
        ),
        # uvicorn's WebSocket implementations and per-message-deflate, on our in-memory
        # layer's end to end (issue 22): ratios to the first (uvicorn's default), round by round.
        Scenario(
            "e2e_ws_impls",
            "e2e",
            WS_VARIANTS,
            {
                "clients": 100 if quick else 1000,
                "messages": 5 if quick else 60,
                "timeout": timeout,
                "repeat": repeat,
            },
            [*lat, "server_cpu_us"],
        ),
        # The "nothing lost at N = 5,000": ours (and bare, for scale) only; the rate is
        # shown, the 0.5x target is the N = 1,000 one.
        Scenario(
            "e2e_N5000",
            "e2e",
            [BARE, OURS_MEMORY, OURS_QUEUE, OURS_PUBSUB],
            {"clients": 5000, "messages": 5, "timeout": timeout},
            lat,
        ),
        Scenario(
            "memory_idle",
            "memory",
            SERVERS,
            {"connections": 200 if quick else 10000, "repeat": 1},
            ["kb_per_connection"],
        ),
    ]
    for scenario in plan:
        scenario.params.setdefault("repeat", repeat)
    if quick:  # under a minute: the cheap scenarios, the end-to-end ones against fc's queue only
        skip = {
            "p2p_100_senders",
            "pingpong",
            "many_groups",
            "metrics_overhead_G1000",
            "memory_idle",
            "e2e_N5000",
            "e2e_ws_impls",
        }
        plan = [s for s in plan if s.id not in skip]
        for scenario in plan:
            if scenario.worker == "e2e":
                scenario.impls[:] = [BARE, OURS_QUEUE, FC_QUEUE, SOCKETIO_NODE_MEMORY]
    return plan
