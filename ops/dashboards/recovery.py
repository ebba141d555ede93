"""Recovery panels (issue 19): how reconnecting clients fare, from the consumer side metrics
(fast_channels_recover*) and the layers' history size. Names fixed in RECOVERY.md; no group or
channel label anywhere, so every panel sums over pods or layers."""

from __future__ import annotations

from ops.dashboards.panels import JSON, LAYER, POD, RATE, timeseries
from ops.dashboards.thresholds import line

RECOVERIES = "fast_channels_recoveries_total"
SECONDS = "fast_channels_recovery_seconds"


def incomplete_ratio() -> str:
    return (
        f'sum(rate({RECOVERIES}{{{POD}, outcome="incomplete"}}[{RATE}]))'
        f" / sum(rate({RECOVERIES}{{{POD}}}[{RATE}]))"
    )


def recovery_quantile(q: str) -> tuple[str, str]:
    expr = f"histogram_quantile({q}, sum by (le) (rate({SECONDS}_bucket{{{POD}}}[{RATE}])))"
    return expr, f"p{q[2:].ljust(2, '0')}"


def panels() -> list[tuple[JSON, int, int]]:
    return [
        (timeseries("Recoveries by outcome", [
            (f"sum by (outcome) (rate({RECOVERIES}{{{POD}}}[{RATE}]))", "{{outcome}}")],
            "ops", "Reconnecting clients that sent their positions, per second: complete = "
            "every missed message replayed; incomplete = the history no longer reached back or "
            "its epoch changed (the client must reload). Fresh joins are not counted."), 6, 8),
        (timeseries("Incomplete recoveries", [(incomplete_ratio(), "incomplete")],
            "percentunit", "Share of recoveries that could not replay everything missed; "
            "the alert fires when it stays above 10% while incomplete "
            "recoveries exceed 0.05/s.",
            lines=[line("FastChannelsRecoveriesIncomplete")]), 6, 8),
        (timeseries("Replayed / de-duplicated", [
            (f"sum(rate(fast_channels_recovery_replayed_messages_total{{{POD}}}[{RATE}]))",
             "replayed"),
            (f"sum(rate(fast_channels_recovery_duplicates_skipped_total{{{POD}}}[{RATE}]))",
             "live duplicates skipped"),
            (f"sum(rate(fast_channels_recovery_invalid_requests_total{{{POD}}}[{RATE}]))",
             "invalid ?recover= ignored"),
        ], "ops", "Missed messages replayed to reconnecting clients per second; live "
           "messages skipped because the replay had already sent them; handshakes whose "
           "?recover= could not be read (joined fresh: a client bug or tampering)."), 6, 8),
        (timeseries("Reconnect to recovered", [
            recovery_quantile("0.5"), recovery_quantile("0.99")], "s",
            "Time from a recovering client's WebSocket connect to its last replayed message "
            "sent, p50 and p99."), 6, 8),
        (timeseries("Group history held", [
            (f"sum by (layer) (fast_channels_layer_history_messages{{{LAYER}}})", "{{layer}}")],
            "short", "Messages the layers keep as group history (size per group pattern times "
            "groups, trimmed by ttl); grows with the number of active history groups."), 24, 6),
    ]  # fmt: skip
