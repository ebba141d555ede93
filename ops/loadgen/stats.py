"""What a load run counts and measures, and its summary."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Stats:
    """Counters of one run. `expected` is one delivery per room member per message sent."""

    clients: int = 0
    connected: int = 0
    connect_errors: int = 0
    disconnects: int = 0
    sent: int = 0
    expected: int = 0
    received: int = 0
    duplicates: int = 0
    error_replies: int = 0
    # The first few distinct reasons, to show with the counts (a wrong --frame, a refused port).
    connect_failures: list[str] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    window: list[float] = field(default_factory=list)

    def connect_failed(self, reason: str) -> None:
        self.connect_errors += 1
        _keep_sample(self.connect_failures, reason)

    def error_reply(self, error: str) -> None:
        self.error_replies += 1
        _keep_sample(self.error_samples, error)

    def delivered(self, latency: float) -> None:
        self.received += 1
        self.latencies.append(latency)
        self.window.append(latency)

    def take_window(self) -> list[float]:
        window, self.window = sorted(self.window), []
        return window


@dataclass(frozen=True)
class Report:
    url: str
    clients: int
    rooms: int
    rate: float
    duration: float
    elapsed: float
    connected: int
    connect_errors: int
    disconnects: int
    sent: int
    expected: int
    received: int
    lost: int
    duplicates: int
    error_replies: int
    connect_failures: list[str]
    error_samples: list[str]
    latency_s: dict[str, float]
    # --recover only: fc.recovery answers after a reconnection, by outcome, and reconnections.
    recoveries: dict[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        ms = {name: value * 1000 for name, value in self.latency_s.items()}
        return "\n".join(
            [
                f"url        {self.url}",
                f"clients    {self.connected}/{self.clients} connected in {self.rooms} rooms"
                f" ({self.connect_errors} failed, {self.disconnects} dropped)",
                f"sent       {self.sent} messages in {self.duration:g} s"
                f" ({self.sent / self.duration if self.duration else 0:.1f}/s)",
                f"deliveries {self.received} received / {self.expected} expected,"
                f" {self.lost} lost, {self.duplicates} duplicates",
                f"latency    p50 {ms['p50']:.2f} ms  p90 {ms['p90']:.2f} ms"
                f"  p99 {ms['p99']:.2f} ms  max {ms['max']:.2f} ms",
                *(
                    [
                        f"recovery   {self.recoveries['reconnections']} reconnections:"
                        f" {self.recoveries['complete']} complete,"
                        f" {self.recoveries['incomplete']} incomplete;"
                        f" {self.recoveries['partly_delivered']} messages missed by some members,"
                        f" {self.recoveries['never_delivered']} by all (lost on the way in)"
                    ]
                    if self.recoveries is not None
                    else []
                ),
                *(f"failed     {reason}" for reason in self.connect_failures),
                *(
                    [f"errors     {self.error_replies} error replies from the server, e.g.:"]
                    if self.error_replies
                    else []
                ),
                *(f"           {sample}" for sample in self.error_samples),
            ]
        )


MAX_SAMPLES = 3


def _keep_sample(samples: list[str], sample: str) -> None:
    if len(samples) < MAX_SAMPLES and sample not in samples:
        samples.append(sample)


def latency_summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50": percentile(ordered, 0.50),
        "p90": percentile(ordered, 0.90),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else 0.0,
        "mean": sum(ordered) / len(ordered) if ordered else 0.0,
    }
