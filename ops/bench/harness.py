"""Runs the plan: one Redis for the whole run, one subprocess per (implementation, scenario)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import venv
from typing import Any

from ops.bench.plan import HERE, VENVS, Impl, Scenario

WORKER = HERE / "worker" / "run.py"
MARK = "BENCH-RESULT "
PROGRESS = re.compile(r"^  \S+ \S+ run \d+: ")
PEER_REQUIREMENTS = {
    "peer-fc": ["fast-channels[redis]==1.1.0", "uvicorn[standard]", "websockets", "starlette"],
    "peer-cr": [
        "channels-redis==4.3.0",
        "channels",
        "uvicorn[standard]",
        "websockets",
        "starlette",
    ],
}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class RedisServer:
    """A throwaway redis-server on a free loopback port, no persistence."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxclients",
                "20000",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.cli("PING").strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, check=False
        )
        return done.stdout

    def version(self) -> str:
        match = re.search(r"redis_version:(\S+)", self.cli("INFO", "server"))
        return match.group(1) if match else "?"

    def benchmark(self, requests: int) -> dict[str, float]:
        """redis-benchmark -q -t set,lpush: requests/s of each, from its own C client."""
        done = subprocess.run(
            ["redis-benchmark", "-p", str(self.port), "-q", "-t", "set,lpush", "-n", str(requests)],
            capture_output=True,
            text=True,
            check=True,
        )
        found = re.findall(
            r"(SET|LPUSH): ([\d.]+) requests per second", done.stdout.replace("\r", "\n")
        )
        return {f"redis_benchmark_{name.lower()}": float(rate) for name, rate in found}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def ensure_peer_venvs(create: bool) -> dict[str, bool]:
    """Which peer venvs exist; with create=True, make the missing ones (pip from the mirrors)."""
    ready = {}
    for name, requirements in PEER_REQUIREMENTS.items():
        python = VENVS / name / "bin" / "python"
        if not python.exists() and create:
            log(f"creating {VENVS / name}")
            venv.create(VENVS / name, with_pip=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
        ready[name] = python.exists()
    return ready


def run_worker(impl: Impl, scenario: Scenario, redis: RedisServer, budget: float) -> dict[str, Any]:
    """One subprocess for (impl, scenario): the worker repeats the runs and prints the JSON."""
    redis.cli("FLUSHALL")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(impl.env)
    command = [
        str(impl.python),
        str(WORKER),
        impl.module,
        impl.kind,
        scenario.worker,
        redis.url,
        json.dumps(scenario.params),
    ]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stderr:
        try:
            done = subprocess.run(
                command,
                cwd=WORKER.parent,
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                timeout=budget,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"no result within {budget:.0f} s"}
        stderr.seek(0)
        errors = stderr.read().splitlines()
    log("\n".join(line for line in errors if PROGRESS.match(line)))
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARK):
            result: dict[str, Any] = json.loads(line[len(MARK) :])
            result["subprocess_seconds"] = round(time.perf_counter() - started, 2)
            return result
    tail = " | ".join(line.strip() for line in errors[-3:])
    return {"error": f"worker exited with {done.returncode} and no result: {tail}"}


def budget_for(scenario: Scenario) -> float:
    """A hard bound per subprocess: each run is bounded by its own timeout, plus set-up."""
    repeat = scenario.params.get("repeat", 3)
    per_run = scenario.params.get("timeout", 30) * 2 + 60
    return repeat * per_run


def run_interleaved(
    impls: list[Impl], scenario: Scenario, redis: RedisServer
) -> dict[str, dict[str, Any]]:
    """Round r runs every implementation once (its run r), in plan order; each one's runs are
    gathered as run_worker would return them. One that fails keeps its error and sits out
    the later rounds."""
    repeat = scenario.params.get("repeat", 3)
    once = dataclasses.replace(scenario, params={**scenario.params, "repeat": 1})
    results: dict[str, dict[str, Any]] = {
        impl.name: {"runs": [], "subprocess_seconds": 0.0} for impl in impls
    }
    for round_ in range(repeat):
        for impl in impls:
            gathered = results[impl.name]
            if "runs" not in gathered:
                continue
            log(f"[{scenario.id}] {impl.name} (round {round_ + 1} of {repeat})")
            got = run_worker(impl, once, redis, budget_for(once))
            if "runs" not in got:
                results[impl.name] = got  # an error or a skip: said as it is
                continue
            gathered["runs"] += got["runs"]
            gathered["subprocess_seconds"] = round(
                gathered["subprocess_seconds"] + got["subprocess_seconds"], 2
            )
    return results


def run_plan(plan: list[Scenario], only: set[str] | None, peers: dict[str, bool]) -> dict[str, Any]:
    redis = RedisServer()
    results: dict[str, Any] = {"redis_version": redis.version(), "scenarios": {}}
    try:
        for scenario in plan:
            if only and scenario.id not in only:
                continue
            entry: dict[str, Any] = {"params": scenario.params, "impls": {}}
            if scenario.id == "ceilings" and shutil.which("redis-benchmark"):
                entry["redis_benchmark"] = redis.benchmark(
                    10_000 if scenario.params["count"] < 10000 else 100_000
                )
            ready = []
            for impl in scenario.impls:
                if impl.venv is not None and not peers.get(impl.venv):
                    entry["impls"][impl.name] = {
                        "skipped": f"no venv {impl.venv} (python -m ops.bench --setup)"
                    }
                else:
                    ready.append(impl)
            if scenario.interleaved:
                entry["impls"].update(run_interleaved(ready, scenario, redis))
            else:
                for impl in ready:
                    log(f"[{scenario.id}] {impl.name}")
                    entry["impls"][impl.name] = run_worker(
                        impl, scenario, redis, budget_for(scenario)
                    )
            results["scenarios"][scenario.id] = entry
    finally:
        redis.stop()
    return results
