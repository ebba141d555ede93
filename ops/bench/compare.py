"""Ours at one commit against ours at another, interleaved round by round, as ratios.

    python -m ops.bench.compare BASE_COMMIT [NEW_COMMIT] [--rounds 3] [--scenarios p2p,fanout_G1000]

BASE and NEW may also name a directory holding a `fast_channels/` tree (a patched copy).

Each commit is extracted with `git archive` into a temporary directory and put first on the
worker's PYTHONPATH, so both run with this venv's dependencies and only our package differs.
Round r runs every (scenario, layer kind) once for the base and once for the new commit, in
alternating order, each its own worker subprocess (`worker/run.py`, one run each): the machine's
speed drifts by more than 3% within minutes, so a change is judged on the median of the rounds'
own new/base ratios (`report.paired_ratio`'s method), never on runs minutes apart.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ops.bench.harness import MARK, WORKER, RedisServer
from ops.bench.plan import scenarios

KINDS = ("memory", "queue", "pubsub")
DEFAULT_SCENARIOS = "p2p,pingpong,fanout_G1000,many_groups,e2e_N1000"
# Higher is better for rates; lower for latencies and costs.
HIGHER_IS_BETTER = {
    "rate": True,
    "ceiling_ratio": True,  # p2p: the rate over the Redis command loop timed around the run
    "p50_ms": False,
    "p99_ms": False,
    "rtt_p50_ms": False,
    "server_cpu_us": False,  # end to end: the server's CPU per delivery, steadier than rates
    "server_sys_us": False,  # its system part (socket writes, waking clients)
    "kb_per_connection": False,  # memory_idle: RSS per idle WebSocket connection
}


def extract(commit: str, into: Path) -> Path:
    if Path(commit, "fast_channels").is_dir():  # a tree already on disk (e.g. a patched copy)
        return Path(commit)
    archive = subprocess.run(
        ["git", "archive", commit, "fast_channels"], check=True, capture_output=True
    ).stdout
    into.mkdir()
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_once(
    tree: Path, kind: str, scenario: str, params: dict[str, Any], url: str
) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    result = subprocess.run(
        [
            sys.executable,
            str(WORKER),
            "ours",
            kind,
            scenario,
            url,
            json.dumps({**params, "repeat": 1}),
        ],
        cwd=WORKER.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    for line in result.stdout.splitlines():
        if line.startswith(MARK):
            runs: list[dict[str, Any]] = json.loads(line[len(MARK) :]).get("runs", [])
            return runs[0] if runs else {}
    raise RuntimeError(f"worker gave no result for {kind} {scenario}: {result.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("new", nargs="?", default="HEAD")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", default=DEFAULT_SCENARIOS)
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    plan = {s.id: s for s in scenarios(quick=False)}
    wanted = [plan[name] for name in args.scenarios.split(",")]
    redis = RedisServer()
    ratios: dict[tuple[str, str, str], list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            trees = {
                "base": extract(args.base, Path(tmp, "base")),
                "new": extract(args.new, Path(tmp, "new")),
            }
            for round_no in range(args.rounds):
                for scenario in wanted:
                    for kind in args.kinds.split(","):
                        order = ("base", "new") if round_no % 2 == 0 else ("new", "base")
                        got = {
                            side: run_once(
                                trees[side], kind, scenario.worker, scenario.params, redis.url
                            )
                            for side in order
                        }
                        for metric in HIGHER_IS_BETTER:
                            b, n = got["base"].get(metric), got["new"].get(metric)
                            if isinstance(b, (int, float)) and isinstance(n, (int, float)) and b:
                                ratios.setdefault((scenario.id, kind, metric), []).append(n / b)
                        print(
                            f"round {round_no + 1} {scenario.id} {kind}: "
                            f"base {got['base'].get('rate')} new {got['new'].get('rate')}",
                            file=sys.stderr,
                            flush=True,
                        )
    finally:
        redis.stop()
    print("| scenario | layer | metric | new ÷ base, median of rounds | within 3% or better |")
    print("| --- | --- | --- | --- | --- |")
    for (scenario_id, kind, metric), values in sorted(ratios.items()):
        median = statistics.median(values)
        # A change may not make a figure worse by more than 3% (DEVELOPERS.md).
        ok = median >= 0.97 if HIGHER_IS_BETTER[metric] else median <= 1.03
        print(f"| {scenario_id} | {kind} | {metric} | {median:.3f} | {'yes' if ok else 'NO'} |")


if __name__ == "__main__":
    main()
