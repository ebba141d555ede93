"""The Dockerfile passes hadolint, the entrypoint shellcheck, and the entrypoint really serves
the demo app, APP_MODULE, or a given command through uvicorn (no Docker engine here)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.raw_ws import UNFINISHED_HEADS, closed_within, extensions_answered
from tests.support.redis_server import free_port
from tests.support.uvicorn_server import wait_for_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "ops/docker/entrypoint.sh"
VENV_BIN = Path(sys.executable).parent


def test_hadolint_passes() -> None:
    hadolint = VENV_BIN / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck not installed (apt: shellcheck)"
)
def test_shellcheck_passes_on_the_shell_scripts() -> None:
    scripts = [ENTRYPOINT, ROOT / "helm/sync-files.sh", ROOT / ".ci/run"]
    scripts += sorted((ROOT / "scripts").iterdir())
    # -x from the root: the scripts source scripts/_setup.sh relative to it.
    result = subprocess.run(
        ["shellcheck", "-x", *map(str, scripts)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_image_is_multi_stage_non_root_and_exec_form() -> None:
    steps = instructions()
    stages = [args for op, args in steps if op == "FROM"]
    assert len(stages) == 2
    assert stages[0].endswith("AS builder")
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in final
    user = [args for op, args in final if op == "USER"]
    assert user == ["10001:10001"]
    entrypoint = [args for op, args in final if op == "ENTRYPOINT"]
    assert json.loads(entrypoint[0]) == ["docker-entrypoint"]
    env = " ".join(args for op, args in final if op == "ENV")
    assert "PYTHONUNBUFFERED=1" in env


def test_dockerignore_lets_every_copied_path_through() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = [
        path
        for op, args in instructions()
        if op == "COPY" and "--from=" not in args
        for path in args.split()[:-1]
        if not path.startswith("--")
    ]
    assert copied
    assert set(copied) <= allowed


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@contextmanager
def entrypoint(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run the entrypoint as the image would (uvicorn from PATH); yields its base URL."""
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key != "APP_MODULE"}
    environment.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", HOST="127.0.0.1", PORT=str(port)
    )
    environment.update(env or {})
    process = subprocess.Popen(["sh", str(ENTRYPOINT), *args], cwd=ROOT, env=environment)
    try:
        wait_for_port(port, process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serves_the_demo_app_by_default() -> None:
    with entrypoint("--log-level", "warning") as url:
        status, body = http_get(f"{url}/")
        health = {path: http_get(f"{url}{path}")[0] for path in ("/healthz", "/readyz")}
    assert status == 200
    assert b"<html" in body.lower()
    # The paths the chart's probes and the image's HEALTHCHECK use.
    assert health == {"/healthz": 200, "/readyz": 200}


def test_serves_app_module_and_cleans_the_metrics_dir(tmp_path: Path) -> None:
    stale = tmp_path / "counter_123.db"
    stale.write_bytes(b"left by a dead process")
    env = {"APP_MODULE": "tests.support.compat_app:app", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with entrypoint("--log-level", "warning", env=env) as url:
        status, body = http_get(f"{url}/no-such-page")
        assert not stale.exists()
    assert status == 404
    assert json.loads(body) == {"detail": "Not Found"}  # FastAPI's, so the app answered


def test_an_app_argument_wins_over_the_default() -> None:
    with entrypoint("tests.support.compat_app:app", "--log-level", "warning") as url:
        status, body = http_get(f"{url}/no-such-page")
    assert (status, json.loads(body)) == (404, {"detail": "Not Found"})


def test_connections_that_never_finish_the_handshake_are_closed() -> None:
    env = {"FAST_CHANNELS_HANDSHAKE_TIMEOUT": "1"}  # the chart's app.handshakeTimeoutSeconds
    with entrypoint("--log-level", "warning", env=env) as url:
        port = int(url.rsplit(":", 1)[1])
        stalled = [socket.create_connection(("127.0.0.1", port)) for _ in UNFINISHED_HEADS]
        for sock, head in zip(stalled, UNFINISHED_HEADS, strict=True):
            sock.sendall(head)
        closed = closed_within(stalled, 6)
        for sock in stalled:
            sock.close()
    assert len(closed) == len(stalled)


def test_other_commands_run_as_given() -> None:
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), "python", "-c", "print('worker here')"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"},
    )
    assert result.stdout == "worker here\n"


@pytest.mark.parametrize(
    ("env", "compressed"),
    [({}, False), ({"UVICORN_WS_PER_MESSAGE_DEFLATE": "true"}, True)],
)
def test_websockets_are_not_compressed_unless_asked(env: dict[str, str], compressed: bool) -> None:
    # README "Serving: uvicorn and the garbage collector": deflate costs ~11 us per frame.
    with entrypoint("--log-level", "warning", env=env) as url:
        port = int(url.rsplit(":", 1)[1])
        answered = extensions_answered(port, "/ws/chat/lobby")
    assert answered.startswith("permessage-deflate") is compressed, answered
    if compressed:  # served by the kit's protocol: each message compressed on its own
        assert "server_no_context_takeover" in answered, answered


def test_the_entrypoint_names_the_kits_protocol_and_the_image_has_its_base() -> None:
    text = ENTRYPOINT.read_text()
    assert '--ws "${UVICORN_WS:-fast_channels.wsprotocol:SharedFrameProtocol}"' in text
    # uvicorn 0.35 added websockets-sansio, which the kit's protocol extends: the image must
    # not resolve an older one.
    installs = [args for op, args in instructions() if op == "RUN" and "pip install" in args]
    assert any('"uvicorn[standard]>=0.35"' in args for args in installs), installs
