"""The layer board's presence row (issue 20): entries held, join/leave events, stale reaped."""

from __future__ import annotations

from ops.dashboards.panels import JSON, LAYER, RATE, timeseries


def panels() -> list[tuple[JSON, int, int]]:
    return [
        (timeseries("Presence entries per pod", [
            (f"sum by (pod, instance) (fast_channels_layer_presence_entries{{{LAYER}}})",
             "{{pod}} {{instance}}")], "short",
            "Presence entries (layer.presence_join, a consumer's join_presence) held by the "
            "channels of each pod; their sum is everyone present, in every group."), 8, 8),
        (timeseries("Presence events", [
            (f"sum by (event) (rate(fast_channels_layer_presence_events_total{{{LAYER}}}"
             f"[{RATE}]))", "{{event}}")], "ops",
            "presence.join and presence.leave events sent per second (to each group's events "
            "group: every opted-in member gets each one)."), 8, 8),
        (timeseries("Stale presence entries reaped", [
            (f"sum by (pod, instance) (rate(fast_channels_layer_presence_reaped_total{{{LAYER}}}"
             f"[{RATE}]))", "{{pod}} {{instance}}")], "ops",
            "Entries of dead processes (their presence lease ended: SIGKILL, OOM, node lost) "
            "removed per second, by the pod that found them. Non-zero only after a crash."), 8, 8),
    ]  # fmt: skip
