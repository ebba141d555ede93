"""Rendering the chart and finding objects in what it produced."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

CHART_DIR = Path(__file__).resolve().parents[2] / "helm" / "fast-channels"

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Manifests:
    """The objects of one render, and NOTES.txt."""

    objects: tuple[Manifest, ...]
    notes: str

    def kinds(self) -> list[str]:
        return sorted(obj["kind"] for obj in self.objects)

    def find(self, kind: str, name: str | None = None) -> list[Manifest]:
        return [
            obj
            for obj in self.objects
            if obj["kind"] == kind and (name is None or obj["metadata"]["name"] == name)
        ]

    def one(self, kind: str, name: str | None = None) -> Manifest:
        found = self.find(kind, name)
        if len(found) != 1:
            raise AssertionError(f"expected one {kind} {name or ''}, found {len(found)}")
        return found[0]

    def app_deployment(self) -> Manifest:
        return self.one("Deployment", APP_NAME)

    def app_container(self) -> Manifest:
        container: Manifest = self.app_deployment()["spec"]["template"]["spec"]["containers"][0]
        return container

    def config(self) -> dict[str, str]:
        data: dict[str, str] = self.one("ConfigMap", APP_NAME)["data"]
        return data


APP_NAME = "demo-fast-channels"


def render(chart: helm.Chart, values: dict[str, Any], name: str, namespace: str) -> Manifests:
    """Render with the Helm engine (the chart's schema and `fail`s apply) and parse."""
    files = chart.render(values, name=name, namespace=namespace)
    objects: list[Manifest] = []
    notes = ""
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return Manifests(objects=tuple(objects), notes=notes)
