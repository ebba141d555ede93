"""Every Python block of README.md runs as written, taken from the README itself.

A block with no marker runs as a script; `<!-- readme-test: pytest -->` runs through pytest
with pytest-asyncio's default (strict) mode, as in a reader's project with no configuration;
`<!-- readme-test: skip <why> -->` is not run (keep those few). Blocks read the Redis URL from
`REDIS_URL`, here a redis-server started for the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.readme import ROOT, Block, blocks
from tests.support.redis_server import RedisServer

PYTHON_BLOCKS = [block for block in blocks() if block.lang == "python"]
KINDS = {"": "script", "pytest": "pytest", "skip": "skip"}


def test_every_python_block_has_a_known_marker() -> None:
    unknown = [(b.line, b.marker) for b in PYTHON_BLOCKS if b.kind not in KINDS]
    assert unknown == []
    skipped = [b.line for b in PYTHON_BLOCKS if b.kind == "skip"]
    # A script that only defines a test function would "pass" without running it.
    unmarked_tests = [b.line for b in PYTHON_BLOCKS if "def test_" in b.body and b.kind != "pytest"]
    assert unmarked_tests == [], "mark these README blocks <!-- readme-test: pytest -->"
    assert len(skipped) <= 2, f"README blocks not run: lines {skipped}; make them runnable"


def run(argv: list[str], cwd: Path, redis_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=100)


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: f"README.md:{b.line}")
def test_readme_block_runs(block: Block, tmp_path: Path, redis_server: RedisServer) -> None:
    if block.kind == "skip":
        pytest.skip(block.marker)
    if block.kind == "pytest":
        script = tmp_path / "test_readme_block.py"
        # A reader's configuration, not ours: strict mode (the default); the loop scope set
        # only because pytest-asyncio warns when it is not, and warnings are errors here.
        ini = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        (tmp_path / "pytest.ini").write_text(ini)
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"]
        argv += ["-c", str(tmp_path / "pytest.ini"), str(script)]
    else:
        script = tmp_path / "readme_block.py"
        argv = [sys.executable, "-W", "error", str(script)]
    script.write_text(block.body)
    result = run(argv, tmp_path, redis_server.url)
    assert result.returncode == 0, f"README.md:{block.line}\n{result.stdout}\n{result.stderr}"
    if block.kind == "pytest":
        assert "\n1 passed" in result.stdout, result.stdout
