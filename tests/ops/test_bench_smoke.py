"""The benchmark harness end to end, ours only, quick sizes: sane figures and nothing lost.

No timed assertions: the figures must exist and be plausible, never fast enough.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench")
    subprocess.run(
        [sys.executable, "-m", "ops.bench", "--quick", "--ours-only",
         "--scenarios", "p2p,fanout_G100", "--out", str(out)],
        cwd=REPO, check=True, timeout=100,
    )  # fmt: skip
    assert (out / "results.md").read_text().startswith("# Benchmark results")
    assert (out / "latency_vs_group_size.png").stat().st_size > 0
    return json.loads((out / "results.json").read_text())


def runs_of(results: dict, scenario: str, impl: str) -> list[dict]:
    entry = results["scenarios"][scenario]["impls"][impl]
    if "skipped" in entry:  # e.g. a layer not merged yet: the harness says why
        pytest.skip(entry["skipped"])
    assert "runs" in entry, entry
    return entry["runs"]


@pytest.mark.parametrize("scenario", ["p2p", "fanout_G100"])
@pytest.mark.parametrize("impl", ["ours-queue", "ours-pubsub"])
def test_our_layers_deliver_everything_with_sane_figures(
    results: dict, scenario: str, impl: str
) -> None:
    for run in runs_of(results, scenario, impl):
        assert run["expected"] > 0
        assert run["delivered"] == run["expected"]
        assert run["lost"] == 0
        assert run["duplicates"] == 0
        assert run["errors"] == {}
        assert run["rate"] > 0
        assert math.isfinite(run["rate"])
        assert 0 <= run["p50_ms"] <= run["p99_ms"] <= run["max_ms"]


def test_peers_are_skipped_and_said_so(results: dict) -> None:
    impls = results["scenarios"]["p2p"]["impls"]
    for peer in ("fc-queue", "fc-pubsub", "cr-queue", "cr-pubsub"):
        assert "no venv" in impls[peer]["skipped"]


def test_fanout_counts_every_member(results: dict) -> None:
    (run,) = runs_of(results, "fanout_G100", "ours-queue")
    assert run["group_size"] == 100
    assert run["expected"] == 100 * run["messages"]


@pytest.mark.parametrize(("impl", "ceiling"), [("ours-queue", "lpush"), ("ours-pubsub", "publish")])
def test_point_to_point_runs_carry_the_ceiling_measured_just_before_them(
    results: dict, impl: str, ceiling: str
) -> None:
    for run in runs_of(results, "p2p", impl):
        assert run["ceiling"] == f"{ceiling}_awaited"
        assert run["ceiling_rate"] > 0
        assert run["ceiling_ratio"] == pytest.approx(run["rate"] / run["ceiling_rate"])
