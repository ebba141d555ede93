"""Medians of the runs, the ours/peer table with the issue's targets, and the plot."""

from __future__ import annotations

import math
import statistics
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from ops.bench.plan import GROUP_SIZES, LAYERS, PEERS, Scenario

LOWER_IS_BETTER = ("_ms", "kb_per_connection", "commands", "_cpu_us")
LABELS = {
    "rate": "msgs/s (deliveries/s)",
    "p50_ms": "latency p50 ms",
    "p99_ms": "latency p99 ms",
    "max_ms": "latency max ms",
    "rtt_p50_ms": "round trip p50 ms",
    "rtt_p99_ms": "round trip p99 ms",
    "kb_per_connection": "RSS KB per idle connection",
    "server_cpu_us": "server CPU us per delivery",
    "client_commands": "client commands per group_send",
    "all_commands": "all commands (incl. in Lua) per group_send",
}


def summarize(entry: dict[str, Any]) -> dict[str, Any] | None:
    """Median of every numeric figure over the runs; losses summed, never medianed away."""
    runs = entry.get("runs")
    if not runs:
        return None
    keys = {k for run in runs for k, v in run.items() if isinstance(v, (int, float))}
    summary: dict[str, Any] = {
        k: statistics.median(run[k] for run in runs if k in run) for k in keys
    }
    for key in (
        "lost",
        "expected",
        "sent",
        "unsent",
        "delivered",
        "duplicates",
        "send_errors",
        "receive_errors",
    ):
        summary[key] = sum(run.get(key, 0) for run in runs)
    errors: dict[str, int] = {}
    for run in runs:
        for name, count in run.get("errors", {}).items():
            errors[name] = errors.get(name, 0) + count
    summary["errors"] = errors
    summary["runs"] = len(runs)
    return summary


def carry_over(
    results: dict[str, Any], previous: dict[str, Any], note: str, only: set[str] | None = None
) -> list[str]:
    """Copy in the scenarios `results` lacks (of `only`, if given) from an earlier run's
    results.json, each tagged with `note` (shown next to its rows): for a run of only some
    scenarios. Returns the ids copied."""
    added = []
    for scenario_id, entry in previous["scenarios"].items():
        if only is not None and scenario_id not in only:
            continue
        if scenario_id not in results["scenarios"]:
            results["scenarios"][scenario_id] = {**entry, "carried_over": note}
            added.append(scenario_id)
    return sorted(added)


MARKS = "¹²³⁴⁵"


def _marks(results: dict[str, Any]) -> dict[str, str]:
    """Scenario id -> footnote mark, for the scenarios carried over from an earlier run."""
    notes = sorted(
        {e["carried_over"] for e in results["scenarios"].values() if "carried_over" in e}
    )
    mark = {note: MARKS[i] for i, note in enumerate(notes)}
    return {
        sid: mark[e["carried_over"]]
        for sid, e in results["scenarios"].items()
        if "carried_over" in e
    }


def _tag(results: dict[str, Any], scenario: str) -> str:
    mark = _marks(results).get(scenario)
    return f"{scenario} {mark}" if mark else scenario


def _get(results: dict[str, Any], scenario: str, impl: str) -> dict[str, Any] | None:
    entry = results["scenarios"].get(scenario, {}).get("impls", {}).get(impl)
    return summarize(entry) if entry else None


def paired_ratio(
    results: dict[str, Any], scenario: str, impl: str, other: str, metric: str = "rate"
) -> float | None:
    """Median over the rounds of an interleaved scenario of ours / `other` in the same round:
    each pair ran minutes closer together than the medians of all rounds did."""
    impls = results["scenarios"].get(scenario, {}).get("impls", {})
    ours, theirs = impls.get(impl, {}).get("runs"), impls.get(other, {}).get("runs")
    if not ours or not theirs or len(ours) != len(theirs):
        return None
    pairs = [a[metric] / b[metric] for a, b in zip(ours, theirs, strict=True) if b.get(metric)]
    return statistics.median(pairs) if pairs else None


def _status(results: dict[str, Any], scenario: str, impl: str) -> str | None:
    entry = results["scenarios"].get(scenario, {}).get("impls", {}).get(impl) or {}
    return entry.get("skipped") or entry.get("error")


def fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(ours: float | None, peer: float | None) -> float | None:
    if ours is None or peer is None or not peer or math.isnan(ours) or math.isnan(peer):
        return None
    return ours / peer


def ceilings(results: dict[str, Any]) -> dict[str, float]:
    entry = results["scenarios"].get("ceilings", {})
    found: dict[str, float] = dict(entry.get("redis_benchmark", {}))
    raw = summarize(entry.get("impls", {}).get("raw", {}))
    if raw:
        for key in ("lpush_awaited", "lpush_pipelined_100", "publish_awaited"):
            found[key] = raw[key]
    bare = _get(results, "e2e_N1000", "bare")
    if bare:
        found["e2e_bare_rate"] = bare["rate"]
        if "server_cpu_us" in bare:
            found["e2e_bare_cpu_us"] = bare["server_cpu_us"]
    memory = _get(results, "memory_idle", "bare")
    if memory:
        found["bare_kb_per_connection"] = memory["kb_per_connection"]
    return found


# (our impl, scenario prefix, figure) -> (versus, bound, at most?): the ratio targets.
# The impl is a shell-style pattern ("*-history": ours with recovery history on).
# "fc" is ours/fast-channels 1.1.0; a ceiling name is ours/that ceiling from the same run.
TARGETS: list[tuple[str, str, str, str, float, bool]] = [
    ("ours-queue", "p2p", "rate", "fc", 5, False),
    ("ours-queue", "p2p", "rate", "lpush_awaited", 0.8, False),
    ("ours-queue", "p2p_100_senders", "rate", "fc", 20, False),
    ("ours-queue", "pingpong", "rtt_p50_ms", "fc", 0.5, True),
    ("ours-queue", "fanout_G1000", "rate", "fc", 5, False),
    ("ours-queue", "fanout_G1000", "p99_ms", "fc", 0.2, True),
    ("ours-queue", "many_groups", "rate", "fc", 5, False),
    ("ours-pubsub", "fanout", "rate", "fc", 1.5, False),
    ("ours-pubsub", "many_groups", "rate", "fc", 1.5, False),
    ("ours-pubsub", "p2p", "rate", "publish_awaited", 0.9, False),
    # Issue 22's end-to-end goals, against bare Starlette of the same rounds.
    ("ours-memory", "e2e_N1000", "rate", "e2e_bare_rate", 0.85, False),
    ("ours-queue", "e2e_N1000", "rate", "e2e_bare_rate", 0.7, False),
    ("ours-pubsub", "e2e_N1000", "rate", "e2e_bare_rate", 0.7, False),
    ("*-history", "e2e_N1000", "rate", "e2e_bare_rate", 0.6, False),
]


# A paired ceiling -> how it was measured, and what the unpaired ratio beside it compares with.
PAIRED = {
    "lpush_awaited": ("beside each run", "of the ceilings table"),
    "publish_awaited": ("beside each run", "of the ceilings table"),
    "e2e_bare_rate": ("round by round", "of the median bare rate"),
}


def _paired(
    results: dict[str, Any], scenario: str, impl: str, ours: dict[str, Any]
) -> dict[str, float | None]:
    """The paired ratios of one of our rows (see target())."""
    paired: dict[str, float | None] = {}
    if "ceiling_ratio" in ours:  # point to point: each run names the loop it was held to
        runs = results["scenarios"][scenario]["impls"][impl]["runs"]
        paired[runs[0]["ceiling"]] = ours["ceiling_ratio"]
    if scenario.startswith("e2e"):
        paired["e2e_bare_rate"] = paired_ratio(results, scenario, impl, "bare")
    return paired


def _applies(rule_impl: str, rule_scenario: str, impl: str, scenario: str) -> bool:
    if not fnmatchcase(impl, rule_impl):
        return False
    exact = rule_scenario in ("p2p", "fanout_G1000", "pingpong", "many_groups", "e2e_N1000")
    return scenario == rule_scenario if exact else scenario.startswith(rule_scenario)


def _check(label: str, value: float, bound: float, at_most: bool) -> str:
    ok = value <= bound if at_most else value >= bound
    return f"{label} {'<=' if at_most else '>='} {bound:g}x {'✅' if ok else '❌'}"


def target(
    scenario: str,
    impl: str,
    metric: str,
    ours: float,
    ratios: dict[str, float | None],
    ceil: dict[str, float],
    paired: dict[str, float | None] | None = None,
) -> str:
    """The issue's targets for this figure and whether the run met them (✅ / ❌).

    `paired`: ceiling name -> ours / that ceiling measured beside each of our runs (median
    over the runs); where there is one, it is what the target is checked against, and the
    ratio to the figure of the ceilings table (or the median bare rate) is shown beside it."""
    checks = []
    if ratios.get("cr") is not None and metric in ("rate", "p99_ms", "rtt_p50_ms"):
        checks.append(_check("cr", ratios["cr"], 1.0, metric.endswith(LOWER_IS_BETTER)))
    for rule_impl, rule_scenario, figure, versus, bound, at_most in TARGETS:
        if figure != metric or not _applies(rule_impl, rule_scenario, impl, scenario):
            continue
        value = ratios.get(versus) if versus == "fc" else None
        if versus in ceil:
            value = ours / ceil[versus]
        beside = (paired or {}).get(versus)
        if beside is not None:
            how, against = PAIRED[versus]
            check = _check(f"{versus} {how}", beside, bound, at_most)
            whole = f"; {value:.2f}x {against}" if value is not None else ""
            checks.append(f"{check} ({beside:.2f}x{whole})")
        elif value is not None:
            checks.append(_check(versus, value, bound, at_most))
    if metric == "server_cpu_us" and ceil.get("e2e_bare_cpu_us"):
        # Not an issue target: the rate's counterpart that the machine's load moves less.
        bare = ceil["e2e_bare_cpu_us"]
        checks.append(f"bare {bare:.1f} us: bare/ours {bare / ours:.2f}x (for reference)")
    if scenario == "memory_idle" and "bare_kb_per_connection" in ceil:
        over = ours - ceil["bare_kb_per_connection"]
        checks.append(f"bare {over:+.1f} KB <= +5 {'✅' if over <= 5 else '❌'}")
    return "; ".join(checks)


def main_rows(results: dict[str, Any], plan: list[Scenario]) -> list[list[str]]:
    ceil = ceilings(results)
    rows = []
    for scenario in plan:
        if scenario.id == "ceilings" or scenario.id.startswith(("commands", "metrics_")):
            continue
        for impl, (fc, cr) in PEERS.items():
            if impl not in {i.name for i in scenario.impls}:
                continue
            ours = _get(results, scenario.id, impl)
            if ours is None:
                why = _status(results, scenario.id, impl)
                if why:
                    rows.append(
                        [_tag(results, scenario.id), impl, "-", f"not run: {why}"] + [""] * 6
                    )
                continue
            peer_fc = _get(results, scenario.id, fc) if fc else None
            peer_cr = _get(results, scenario.id, cr) if cr else None
            paired = _paired(results, scenario.id, impl, ours)
            for metric in scenario.metrics:
                o = ours.get(metric)
                f = peer_fc.get(metric) if peer_fc else None
                c = peer_cr.get(metric) if peer_cr else None
                r_fc, r_cr = ratio(o, f), ratio(o, c)
                found = [s for s in (ours, peer_fc, peer_cr)]
                lost = "/".join("-" if s is None else f"{s['lost']}" for s in found)
                if any(s and s.get("unsent") for s in found):
                    unsent = "/".join("-" if s is None else f"{s.get('unsent', 0)}" for s in found)
                    lost += f" (unsent {unsent})"
                rows.append(
                    [
                        _tag(results, scenario.id),
                        impl.removeprefix("ours-"),
                        LABELS.get(metric, metric),
                        fmt(o),
                        fmt(f),
                        fmt(r_fc),
                        fmt(c),
                        fmt(r_cr),
                        target(
                            scenario.id,
                            impl,
                            metric,
                            o,
                            {"fc": r_fc, "cr": r_cr},
                            ceil,
                            paired,
                        )
                        if o is not None
                        else "",
                        lost if metric == scenario.metrics[0] else "",
                    ]
                )
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def commands_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for scenario_id, entry in results["scenarios"].items():
        if not scenario_id.startswith("commands"):
            continue
        for impl in [i.name for i in LAYERS]:
            summary = summarize(entry["impls"].get(impl, {}))
            if not summary:
                continue
            run = entry["impls"][impl]["runs"][0]
            detail = ", ".join(f"{k} {v:g}" for k, v in run["client_by_command"].items())
            rows.append(
                [
                    _tag(results, scenario_id),
                    impl,
                    fmt(summary["client_commands"]),
                    detail,
                    fmt(summary["all_commands"]),
                ]
            )
    return rows


def losses(results: dict[str, Any]) -> list[str]:
    found = []
    for scenario_id, entry in results["scenarios"].items():
        for impl, data in entry.get("impls", {}).items():
            summary = summarize(data)
            if summary and (summary["lost"] or summary["duplicates"] or summary["errors"]):
                errors = ", ".join(f"{k} x{v}" for k, v in sorted(summary["errors"].items()))
                found.append(
                    f"- {_tag(results, scenario_id)} / {impl}: "
                    f"{summary['lost']} of {summary['sent']} sent "
                    f"deliveries not received, {summary['duplicates']} duplicates, "
                    f"errors: {errors or 'none'} (over {summary['runs']} runs)"
                )
            elif "error" in data:
                found.append(f"- {_tag(results, scenario_id)} / {impl}: ERROR {data['error']}")
    return found


QUICK_NOTE = "Quick run (one run each, small sizes: not for comparison)."
FULL_NOTE = "Full run: every figure is the median of 3 runs unless noted."


# Ceilings measured by a scenario other than `ceilings` (a carried-over one keeps its mark).
CEILING_SOURCES = {"e2e_bare_rate": "e2e_N1000", "bare_kb_per_connection": "memory_idle"}


def markdown(results: dict[str, Any], plan: list[Scenario], extra: list[str] | None = None) -> str:
    """results.md; `extra`: sections placed before "Losses" (report_servers' tables)."""
    ceil = ceilings(results)
    kind = QUICK_NOTE if results.get("quick") else FULL_NOTE
    commit = f" at commit {results['commit']}" if results.get("commit") else ""
    marks = _marks(results)
    notes = sorted(
        {(marks[s], e["carried_over"]) for s, e in results["scenarios"].items() if s in marks}
    )
    carried = "".join(
        f"\n\n{mark} **{note}** — not re-run: "
        + ", ".join(
            f"`{s}`" for s in sorted(marks) if results["scenarios"][s]["carried_over"] == note
        )
        + ". Their ratios compare figures of that earlier run with each other, never with this run."
        for mark, note in notes
    )
    out = [
        "# Benchmark results\n",
        f"{kind} "
        f"Redis {results['redis_version']} on 127.0.0.1, {results['machine']['cpus']} CPUs, "
        f"Python {results['machine']['python']}; the run{commit} took {results['seconds']:.0f} s. "
        f"Method and caveats: [ops/bench/README.md](../README.md).{carried}\n",
        "## Ceilings (same Redis, same run)\n" if not marks else "## Ceilings (same Redis)\n",
        table(
            ["ceiling", "ops/s"],
            [
                [
                    f"{k} {marks[CEILING_SOURCES[k]]}" if CEILING_SOURCES.get(k) in marks else k,
                    fmt(v),
                ]
                for k, v in sorted(ceil.items())
                if "kb" not in k and not k.endswith("_us")  # not rates: shown in their rows
            ],
        ),
        "## Ours vs the peers\n",
        "`fc` = fast-channels 1.1.0, `cr` = channels-redis 4.3.0 (same layer kind as the row); "
        "ratio = ours / peer (for latency and memory, lower is better). `lost` = deliveries owed "
        "by successful sends but not received by the end of the drain, summed over the runs, "
        "ours/fc/cr (messages the time bound kept from being sent are `unsent`, not lost).\n",
        table(
            [
                "scenario",
                "layer",
                "figure",
                "ours",
                "fc",
                "ours/fc",
                "cr",
                "ours/cr",
                "target (issue 7)",
                "lost",
            ],
            main_rows(results, plan),
        ),
        "## Redis commands per group_send\n",
        "Client-issued commands (from MONITOR: a pipeline counts each command; a Lua script "
        "counts once) and all commands executed, including those inside Lua (`INFO "
        "commandstats` delta), per group_send. `_x4`: members spread over 4 layer instances.\n",
        table(
            ["scenario", "impl", "client commands", "which", "all commands"], commands_rows(results)
        ),
    ]
    with_metrics = _get(results, "metrics_overhead_G1000", "ours-queue")
    without = _get(results, "metrics_overhead_G1000", "ours-queue-nometrics")
    if with_metrics and without:
        out += [
            "## Instrumentation overhead (issue 4)"
            + (f" {marks['metrics_overhead_G1000']}" if "metrics_overhead_G1000" in marks else "")
            + "\n",
            table(
                ["fan-out G=1000, queue layer", "deliveries/s", "p99 ms"],
                [
                    [
                        "metrics on (default)",
                        fmt(with_metrics["rate"]),
                        fmt(with_metrics["p99_ms"]),
                    ],
                    ["FAST_CHANNELS_METRICS=0", fmt(without["rate"]), fmt(without["p99_ms"])],
                    [
                        "ratio on/off",
                        fmt(ratio(with_metrics["rate"], without["rate"])),
                        fmt(ratio(with_metrics["p99_ms"], without["p99_ms"])),
                    ],
                ],
            ),
        ]
    out += extra or []
    lost = losses(results)
    out += [
        "## Losses\n",
        "\n".join(lost) + "\n"
        if lost
        else "No message was lost, duplicated or refused in any run.\n",
    ]
    out += ["## Plot\n", "![latency and throughput vs group size](latency_vs_group_size.png)\n"]
    return "\n".join(out)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    styles = {"ours": "-", "fc": "--", "cr": ":"}
    colors = {"queue": "tab:blue", "pubsub": "tab:orange"}
    for impl in LAYERS:
        points = [(size, _get(results, f"fanout_G{size}", impl.name)) for size in GROUP_SIZES]
        points = [(size, s) for size, s in points if s]
        if not points:
            continue
        xs = [size for size, _ in points]
        owner = impl.name.split("-")[0]
        kw = {
            "linestyle": styles[owner],
            "color": colors[impl.kind],
            "marker": "o",
            "linewidth": 2.4 if owner == "ours" else 1.4,
            "label": impl.name,
        }
        for ax, key in zip(axes, ("p50_ms", "p99_ms", "rate"), strict=False):
            ax.plot(xs, [s[key] for _, s in points], **kw)
    titles = ("delivery latency p50 (ms)", "delivery latency p99 (ms)", "deliveries/s")
    for ax, title in zip(axes, titles, strict=False):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("group size G (one process)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(
        "Fan-out, one process: ours vs fast-channels 1.1.0 (fc) and channels-redis 4.3.0 (cr), "
        "same Redis, medians"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
