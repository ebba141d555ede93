"""The README's install commands install this package, at this version, under its own name.

The commands are taken from the README's `install` blocks and run as written, plus `--no-deps`
(the test checks what is installed, not the dependencies) and, for `pip wheel` when hatchling is
importable, `--no-build-isolation`. Installing from the checkout fetches hatchling from the
package index into pip's isolated build environment, as it does for a user.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
import venv
from pathlib import Path

import fast_channels
from tests.docs.readme import ROOT, blocks


def install_commands() -> list[list[str]]:
    commands = []
    for block in blocks():
        if block.kind != "install":
            continue
        for line in block.body.splitlines():
            if line.strip():
                commands.append(shlex.split(line, comments=True))
    return commands


def run(command: list[str], cwd: Path, target: Path) -> None:
    assert command[0] == "pip", command
    offline = ["--no-deps"]
    # `pip wheel` builds in this interpreter, which may have the build backend: no download.
    # `pip --python venv install` builds inside that empty venv, so it must fetch hatchling
    # into an isolated build environment (from the package index, as a user's pip would).
    if command[1] == "wheel" and importlib.util.find_spec("hatchling") is not None:
        offline.append("--no-build-isolation")
    into = ["--python", str(target)] if command[1] == "install" else []
    argv = [sys.executable, "-m", "pip", *into, command[1], *offline, *command[2:]]
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, f"{shlex.join(command)}\n{result.stdout}\n{result.stderr}"


def installed_version(python: Path) -> str:
    code = (
        "import importlib.metadata as m, fast_channels; "
        "print(m.version('fast_channels'), fast_channels.__version__, fast_channels.__file__)"
    )
    # The browser client ships in the package (served by the demo, copyable by anyone).
    browser_client = (
        "import importlib.resources as r; "
        "print(r.files('fast_channels').joinpath('static/fast-channels.js').read_text()[:200])"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only what pip installed
    out = subprocess.run(
        [str(python), "-I", "-c", code], capture_output=True, text=True, check=True, env=env
    )
    dist_version, module_version, module_file = out.stdout.split()
    assert dist_version == module_version
    assert "site-packages" in module_file, module_file  # the installed copy, not the checkout
    script = subprocess.run(
        [str(python), "-I", "-c", browser_client], capture_output=True, text=True, env=env
    )
    assert "fast-channels browser client" in script.stdout, script.stderr
    return dist_version


def test_the_documented_install_lines_install_this_version(tmp_path: Path) -> None:
    commands = install_commands()
    assert [c[:2] for c in commands] == [["pip", "install"], ["pip", "wheel"], ["pip", "install"]]
    (tmp_path / "fast_channels").symlink_to(ROOT)  # "a checkout in ./fast_channels"
    for index, command in enumerate(commands):
        target = tmp_path / f"venv{index}"
        venv.create(target, with_pip=False)
        run(command, tmp_path, target / "bin" / "python")
        if command[1] == "install":
            assert installed_version(target / "bin" / "python") == fast_channels.__version__
