"""The chart README's values table documents every value, and nothing that does not exist."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.deploy.chart import CHART_DIR

# Values documented as a whole: free-form maps and Kubernetes objects passed through.
WHOLE = {
    "resources",
    "podSecurityContext",
    "securityContext",
    "podAnnotations",
    "podLabels",
    "nodeSelector",
    "affinity",
    "behavior",
    "labels",
    "annotations",
    "config",
}


def leaves(values: dict[str, Any], prefix: str = "") -> list[str]:
    paths: list[str] = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in WHOLE:
            paths.extend(leaves(value, f"{path}."))
        else:
            paths.append(path)
    return paths


def documented() -> set[str]:
    readme = (CHART_DIR / "README.md").read_text()
    return set(re.findall(r"^\| `([^`]+)` \|", readme, flags=re.MULTILINE))


def is_documented(path: str, keys: set[str]) -> bool:
    return path in keys or any(key.endswith(".*") and path.startswith(key[:-1]) for key in keys)


def test_every_value_is_in_the_readme_table() -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    keys = documented()
    missing = [path for path in leaves(values) if not is_documented(path, keys)]
    assert missing == []


def test_the_readme_table_names_only_existing_values() -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    paths = leaves(values)
    unknown = [key for key in documented() if not any(is_documented(p, {key}) for p in paths)]
    assert unknown == []
