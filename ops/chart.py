"""Render and lint the Helm chart locally, without a cluster or the helm binary.

    python -m ops.chart [-f my-values.yaml] [--set image.tag=2.0.0.dev0,redis.url=...] [-o DIR]

Lints strictly as `helm lint --strict` does, renders with the values (the chart's schema and
its checks apply, as at install), validates every object against the Kubernetes API schemas
(kubernetes-validate; the prometheus-operator kinds have none there) and prints the manifests,
or writes one file per template into DIR. Exits 1 on any problem, naming it. Needs the `ops`
extra (helm-python-sdk embeds Helm's engine; `scripts/chart` installs it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

CHART_DIR = Path(__file__).resolve().parents[1] / "helm" / "fast-channels"
KUBE_VERSION = "1.30.0"
NO_SCHEMA = {"ServiceMonitor", "PrometheusRule"}  # CRDs: no schema in kubernetes-validate
LINT_INFO = 1  # helm lint severities above this are warnings and errors


def set_values(assignments: list[str]) -> dict[str, Any]:
    """The values of `--set a.b=c,d=e` arguments, nested as Helm nests them (scalars only)."""
    values: dict[str, Any] = {}
    for argument in assignments:
        for item in argument.split(","):
            path, _, text = item.partition("=")
            *parents, leaf = path.split(".")
            node = values
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = _scalar(text)
    return values


def _scalar(text: str) -> Any:
    return {"true": True, "false": False, "null": None}.get(
        text, int(text) if text.isdigit() else text
    )


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def lint(values: dict[str, Any], namespace: str) -> list[str]:
    import helm_python as helm

    report = helm.lint(
        CHART_DIR, values, strict=True, namespace=namespace, kube_version=f"v{KUBE_VERSION}"
    )
    problems = [str(error) for error in report["errors"]]
    problems += [m["text"] for m in report["messages"] if m["severity"] > LINT_INFO]
    return problems


def render(values: dict[str, Any], release: str, namespace: str) -> dict[str, str]:
    import helm_python as helm

    with helm.Chart.load(CHART_DIR) as chart:
        files: dict[str, str] = chart.render(values, name=release, namespace=namespace)
    return files


def validate(files: dict[str, str]) -> list[str]:
    import kubernetes_validate  # type: ignore[import-untyped]

    problems = []
    for path, text in sorted(files.items()):
        for obj in yaml.safe_load_all(text) if path.endswith(".yaml") else ():
            if not obj or obj["kind"] in NO_SCHEMA:
                continue
            try:
                kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                problems.append(f"{path}: {obj['kind']} {obj['metadata']['name']}: {error}")
    return problems


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ops.chart", description=__doc__.split("\n\n")[0])
    p.add_argument("-f", "--values", type=Path, action="append", default=[], help="values file")
    p.add_argument("--set", action="append", default=[], help="a.b=c[,d=e] as helm --set")
    p.add_argument("--release", default="chat", help="release name (default chat)")
    p.add_argument("--namespace", default="default", help="namespace (default default)")
    p.add_argument("-o", "--output-dir", type=Path, help="write the manifests here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    values: dict[str, Any] = {}
    for path in args.values:
        values = merge(values, yaml.safe_load(path.read_text()) or {})
    values = merge(values, set_values(args.set))
    import helm_python as helm

    try:
        files = render(values, args.release, args.namespace)
    except (helm.HelmValuesError, helm.HelmRenderError) as error:
        print(f"ops.chart: the chart refuses these values: {error}", file=sys.stderr)
        return 1
    problems = lint(values, args.namespace) + validate(files)
    for problem in problems:
        print(f"ops.chart: {problem}", file=sys.stderr)
    _write(files, args.output_dir)
    print(f"ops.chart: {len(files)} templates rendered, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


def _write(files: dict[str, str], directory: Path | None) -> None:
    for path, text in sorted(files.items()):
        if directory is None:
            print(f"---\n# Source: {path}\n{text.strip()}" if text.strip() else "", end="\n")
        else:
            target = directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
