"""The `fast-channels` command line: help, defaults and errors (no server is started)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import fast_channels
from fast_channels.demo import cli
from tests.support.redis_server import free_port


def test_demo_help_says_where_the_worker_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["demo", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "background task inside the server" in text
    assert "fast-channels worker --redis-url URL" in text
    for option in ("--host", "--port", "--redis-url", "--no-worker"):
        assert option in text


def test_worker_requires_a_redis_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["worker"])
    assert exited.value.code == 2
    assert "--redis-url" in capsys.readouterr().err


def test_demo_is_the_default_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, int, str | None, bool]] = []

    def fake_run_demo(args: object) -> int:
        seen.append((args.host, args.port, args.redis_url, args.no_worker))  # type: ignore[attr-defined]
        return 0

    monkeypatch.setattr(cli, "run_demo", fake_run_demo)
    assert cli.main([]) == 0
    assert cli.main(["--port", "9001", "--no-worker"]) == 0
    assert seen == [("127.0.0.1", 8000, None, False), ("127.0.0.1", 9001, None, True)]


def test_unavailable_redis_layer_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # None in sys.modules makes the import fail as it would where the layer is absent.
    monkeypatch.setitem(sys.modules, "fast_channels.layers.redis", None)
    with pytest.raises(SystemExit) as exited:
        cli.main(["demo", "--redis-url", "redis://127.0.0.1:1/0"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "RedisChannelLayer" in err
    assert "without --redis-url" in err


def test_python_dash_m_is_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fast_channels", "--help"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "usage: fast-channels" in result.stdout
    assert "{demo,worker}" in result.stdout


def run_demo_command(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fast_channels", "demo", "--port", str(free_port()), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_a_bad_redis_url_fails_before_the_server_starts() -> None:
    result = run_demo_command("--redis-url", "foo://x")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "fast-channels: error: --redis-url 'foo://x': A Redis URL starts with redis://, "
        "rediss://, unix://, redis+sentinel:// or redis+cluster://; got 'foo://x'"
    ]
    assert "worker ready" not in result.stdout + result.stderr


def test_a_redis_that_is_not_running_fails_before_the_server_starts() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    result = run_demo_command("--redis-url", url)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"fast-channels: error: cannot reach Redis at {url}" in result.stderr
    assert "Uvicorn running" not in result.stdout + result.stderr


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"fast-channels {fast_channels.__version__}\n"


def test_an_unknown_command_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'serve' (choose from 'demo', 'worker')" in err
