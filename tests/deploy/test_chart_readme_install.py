"""The READMEs' Helm install commands deploy the image their `docker push` line pushed.

Each `helm install` of README.md and the chart's README is parsed (its `--set` values, as Helm
reads them), rendered with the chart, and the app container's image compared with the image the
same README builds and pushes: a tag nobody pushed is an ImagePullBackOff on the first install.
"""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

import fast_channels
from ops.chart import set_values
from tests.deploy.chart import CHART_DIR, render

ROOT = CHART_DIR.parents[1]
READMES = [ROOT / "README.md", CHART_DIR / "README.md"]


def shell_commands(readme: Path) -> list[list[str]]:
    """Every command of the README's sh blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```$", readme.read_text(), re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip():
                commands.append(shlex.split(line, comments=True))
    return commands


def helm_set_values(argv: list[str]) -> dict[str, Any]:
    """The values of a helm command's `--set` arguments."""
    return set_values([arg for flag, arg in itertools.pairwise(argv) if flag == "--set"])


def pushed_image(commands: list[list[str]]) -> str:
    built = [c[c.index("-t") + 1] for c in commands if c[:2] == ["docker", "build"]]
    pushed = [c[2] for c in commands if c[:2] == ["docker", "push"]]
    assert len(set(built)) == 1, built
    assert pushed == built[:1], f"built {built}, pushed {pushed}"
    return pushed[0]


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_helm_installs_render_the_pushed_image(chart: helm.Chart, readme: Path) -> None:
    commands = shell_commands(readme)
    image = pushed_image(commands)
    installs = [c for c in commands if c[:2] == ["helm", "install"]]
    assert installs, f"{readme} has no helm install"
    for argv in installs:
        release = argv[2]
        manifests = render(chart, helm_set_values(argv), release, "default")
        app = manifests.one("Deployment", f"{release}-fast-channels")
        assert app["spec"]["template"]["spec"]["containers"][0]["image"] == image, shlex.join(argv)


def test_the_chart_app_version_is_the_package_version() -> None:
    chart_yaml = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert chart_yaml["appVersion"] == fast_channels.__version__
