"""python -m ops.bench [--quick] [--scenarios a,b] [--out DIR] [--setup] [--ours-only] [--render]
[--carry-over OLD/results.json --carry-over-note TEXT --carry-over-scenarios a,b]"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ops.bench import harness, plan, report, report_servers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each (< 1 min)")
    parser.add_argument("--scenarios", help="comma-separated scenario ids (default: all)")
    parser.add_argument("--out", type=Path, default=plan.HERE / "results")
    parser.add_argument("--setup", action="store_true", help="create the peer venvs if missing")
    parser.add_argument("--ours-only", action="store_true", help="skip the peers entirely")
    parser.add_argument("--list", action="store_true", help="list scenario ids and exit")
    parser.add_argument(
        "--render", action="store_true", help="re-render results.md and the plot from results.json"
    )
    parser.add_argument(
        "--carry-over",
        type=Path,
        help="an earlier results.json: scenarios this run lacks are copied from it, marked",
    )
    parser.add_argument(
        "--carry-over-note",
        default="from a previous run",
        help="how the carried-over rows are labelled in results.md",
    )
    parser.add_argument(
        "--carry-over-scenarios",
        help="comma-separated: carry over only these (default: all missing)",
    )
    args = parser.parse_args(argv)

    scenarios = plan.scenarios(args.quick)
    if args.list:
        print("\n".join(s.id for s in scenarios))
        return 0
    if args.render:
        results = json.loads((args.out / "results.json").read_text())
        scenarios = plan.scenarios(results.get("quick", False))
        _carry_over(results, args)
        _save(results, args.out)
        _write(results, scenarios, args.out)
        return 0
    only = set(args.scenarios.split(",")) if args.scenarios else None
    unknown = (only or set()) - {s.id for s in scenarios}
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    peers = {} if args.ours_only else harness.ensure_peer_venvs(create=args.setup)
    started = time.perf_counter()
    results = harness.run_plan(scenarios, only, peers)
    results["machine"] = _machine()
    results["quick"] = args.quick
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["commit"] = _commit()
    _carry_over(results, args)
    _save(results, args.out)
    _write(results, scenarios, args.out)
    return 0


def _carry_over(results: dict[str, Any], args: argparse.Namespace) -> None:
    if args.carry_over:
        previous = json.loads(args.carry_over.read_text())
        only = set(args.carry_over_scenarios.split(",")) if args.carry_over_scenarios else None
        added = report.carry_over(results, previous, args.carry_over_note, only)
        print(
            f"carried over from {args.carry_over}: {', '.join(added) or 'nothing'}", file=sys.stderr
        )


def _save(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


def _write(results: dict, scenarios: list[plan.Scenario], out: Path) -> None:
    extra = report_servers.servers_section(results) + report_servers.ws_impls_section(results)
    table = report.markdown(results, scenarios, extra)
    (out / "results.md").write_text(table)
    report.plot(results, out / "latency_vs_group_size.png")
    print(table)


def _commit() -> str:
    """The commit measured; "-dirty" if the layer code differs from it (workers import the tree)."""
    git = ["git", "-C", str(plan.REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", "fast_channels"], check=False)
    return head.stdout.strip() + ("-dirty" if dirty.returncode else "")


def _machine() -> dict[str, str]:
    cpus = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": cpus}


if __name__ == "__main__":
    sys.exit(main())
