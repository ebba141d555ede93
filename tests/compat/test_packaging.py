"""What 1.x users install keeps working: `fast-channels[redis]`, and asgiref comes along."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _project() -> dict[str, object]:
    return tomllib.loads(PYPROJECT.read_text())["project"]  # type: ignore[no-any-return]


def _names(requirements: object) -> set[str]:
    assert isinstance(requirements, list)
    return {Requirement(line).name.lower() for line in requirements}


def test_redis_extra_brings_what_1x_did() -> None:
    extras = _project()["optional-dependencies"]
    assert isinstance(extras, dict)
    assert {"redis", "msgpack", "cryptography"} <= _names(extras["redis"])


def test_asgiref_is_a_runtime_dependency() -> None:
    assert "asgiref" in _names(_project()["dependencies"])
