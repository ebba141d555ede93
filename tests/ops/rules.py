"""Shared reading of the ops artefacts: the rules file, the runbook, the metrics catalogue."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from prometheus_client.metrics import MetricWrapperBase

from fast_channels.observability import metrics

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "ops" / "prometheus" / "fast-channels.rules.yml"
RULE_TESTS_DIR = ROOT / "ops" / "prometheus" / "tests"
THRESHOLDS_FILE = ROOT / "ops" / "prometheus" / "thresholds.md"
RUNBOOK_FILE = ROOT / "README.md"  # the runbook is the README's "Runbook" section
DASHBOARDS_DIR = ROOT / "dashboards"

_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count"),
}


def load_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES_FILE.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in load_rules() if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in load_rules() if "record" in rule}


def exported_sample_names() -> set[str]:
    """Every sample name the catalogue exports, as Prometheus stores it."""
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading (lower case, punctuation gone, spaces to -)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_anchors() -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", RUNBOOK_FILE.read_text(), flags=re.MULTILINE)
    return {github_slug(heading) for heading in headings}


def selectors(expr: str) -> list[promql_parser.VectorSelector]:
    """Every vector selector of a PromQL expression (inside range selectors too)."""
    found: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def number_literals(expr: str) -> set[float]:
    found: set[float] = set()

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.NumberLiteral):
            found.add(node.val)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def unknown_metrics(expr: str, known: set[str]) -> set[str]:
    """Names an expression reads that are not in `known` ('<unnamed>' for a nameless selector)."""
    return {selector.name or "<unnamed>" for selector in selectors(expr)} - known
