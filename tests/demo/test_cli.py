"""The `fast-channels` command line: help, defaults and errors; the server settings it serves
with, checked on a real demo server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import fast_channels
from fast_channels.demo import cli
from tests.support.raw_ws import extensions_answered
from tests.support.redis_server import free_port
from tests.support.uvicorn_server import stop, wait_for_port


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


# -- the server settings (README "Serving: uvicorn and the garbage collector") -------------


def test_server_defaults_are_the_kits_protocol_without_deflate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("UVICORN_WS", "UVICORN_WS_PER_MESSAGE_DEFLATE", "FAST_CHANNELS_GC_THRESHOLD"):
        monkeypatch.delenv(name, raising=False)
    args = cli.build_parser().parse_args(["demo"])
    # this venv's uvicorn has websockets-sansio (>= 0.35), which the kit's protocol extends
    assert args.ws == "fast_channels.wsprotocol:SharedFrameProtocol"
    assert args.ws_per_message_deflate is False
    assert args.gc_threshold is None
    assert args.gc_freeze is False


def test_server_settings_from_options_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UVICORN_WS", "wsproto")
    monkeypatch.setenv("UVICORN_WS_PER_MESSAGE_DEFLATE", "true")
    monkeypatch.setenv("FAST_CHANNELS_GC_THRESHOLD", "50000,20,20")
    monkeypatch.setenv("FAST_CHANNELS_GC_FREEZE", "1")
    args = cli.build_parser().parse_args(["demo"])
    assert (args.ws, args.ws_per_message_deflate) == ("wsproto", True)
    assert (args.gc_threshold, args.gc_freeze) == ("50000,20,20", True)
    options = ["demo", "--ws", "websockets", "--ws-per-message-deflate", "false"]
    args = cli.build_parser().parse_args([*options, "--gc-freeze", "false"])
    assert (args.ws, args.ws_per_message_deflate, args.gc_freeze) == ("websockets", False, False)


@pytest.mark.parametrize("option", [["--gc-threshold", "7,x"], ["--gc-freeze", "maybe"]])
def test_bad_gc_settings_are_usage_errors(
    option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(["demo", *option])
    assert exit_info.value.code == 2
    assert f"argument {option[0]}" in capsys.readouterr().err


def test_uvicorn_before_0_35_gets_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    from uvicorn import config

    without = {k: v for k, v in config.WS_PROTOCOLS.items() if k != "websockets-sansio"}
    monkeypatch.setattr(config, "WS_PROTOCOLS", without)  # what uvicorn 0.30-0.34 lists
    assert cli.default_ws() == "auto"


@pytest.mark.parametrize(
    ("options", "compressed"), [([], False), (["--ws-per-message-deflate", "true"], True)]
)
def test_the_served_demo_compresses_only_when_asked(options: list[str], compressed: bool) -> None:
    port = free_port()
    command = [sys.executable, "-m", "fast_channels", "demo", "--port", str(port), "--no-worker"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("UVICORN_WS")}
    process = subprocess.Popen([*command, *options, "--log-level", "warning"], env=env)
    try:
        wait_for_port(port, process=process)
        answered = extensions_answered(port, "/ws/chat/lobby")
    finally:
        stop(process)
    assert answered.startswith("permessage-deflate") is compressed, answered
    if compressed:  # the kit's protocol: each message compressed on its own (wsprotocol.py)
        assert "server_no_context_takeover" in answered, answered
