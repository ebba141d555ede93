"""Profile one of our scenarios with py-spy and print where the time goes.

    python -m ops.bench.profile fanout '{"size":1000,"messages":200,"instances":1,"timeout":60}'
    python -m ops.bench.profile p2p '{"messages":20000,"timeout":60}' --kind pubsub

Needs `pip install py-spy` in the project venv. Writes the collapsed stacks and a flame graph
(SVG) to ops/bench/results/profile-<scenario>-<kind>.{txt,svg}, both git-ignored.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ops.bench.harness import WORKER, RedisServer
from ops.bench.plan import HERE

PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")


def record(scenario: str, kind: str, params: str, fmt: str, out: str, redis: RedisServer) -> None:
    merged = {"repeat": 1, **json.loads(params)}
    subprocess.run(
        [PY_SPY, "record", "--rate", "250", "--format", fmt,
         "-o", out, "--", sys.executable, str(WORKER), "ours", kind, scenario, redis.url,
         json.dumps(merged)],
        cwd=WORKER.parent, check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )  # fmt: skip


def summarize(collapsed: str, top: int) -> str:
    """Self time per function and inclusive time per function of fast_channels/redis/asyncio."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in Path(collapsed).read_text().splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        samples = int(count)
        total += samples
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
                  for f in stack.split(";")]  # fmt: skip
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    lines = [f"{total} samples", "", "self time:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines += ["", "inclusive time:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.bench.profile")
    parser.add_argument("scenario")
    parser.add_argument("params")
    parser.add_argument("--kind", default="queue")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    stem = HERE / "results" / f"profile-{args.scenario}-{args.kind}"
    redis = RedisServer()
    try:
        record(args.scenario, args.kind, args.params, "raw", f"{stem}.txt", redis)
        record(args.scenario, args.kind, args.params, "flamegraph", f"{stem}.svg", redis)
    finally:
        redis.stop()
    print(summarize(f"{stem}.txt", args.top))


if __name__ == "__main__":
    main()
