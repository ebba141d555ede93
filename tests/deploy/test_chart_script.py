"""`python -m ops.chart` (scripts/chart) renders and lints the chart as the READMEs say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.chart import CHART_DIR

ROOT = CHART_DIR.parents[1]


def run_chart(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.chart", *args],
        capture_output=True, text=True, timeout=100, cwd=ROOT, check=False,
    )  # fmt: skip


def test_renders_lints_and_writes_the_manifests(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"networkPolicy": {"enabled": True}}))
    result = run_chart(
        "-f", str(values), "--set", "image.repository=registry.example.com/chat/fast-channels",
        "--set", "image.tag=2.0.0.dev0", "-o", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("templates rendered, 0 problems")
    out = tmp_path / "out" / "fast-channels" / "templates"
    deployment = yaml.safe_load((out / "deployment.yaml").read_text())
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/chat/fast-channels:2.0.0.dev0"
    assert (out / "networkpolicy.yaml").exists()


def test_values_the_chart_refuses_fail_with_the_reason() -> None:
    result = run_chart("--set", "redis.url=redis://:s3cret@redis:6379/0")
    assert result.returncode == 1
    assert "the chart refuses these values" in result.stderr
    assert "redis.url holds a password" in result.stderr
