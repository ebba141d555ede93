"""Read a real server's /metrics and POST to it, from tests (standard library only)."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def scrape(base_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of GET /metrics, by (name, labels)."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(base_url: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    wanted = set(labels.items())
    return sum(
        value
        for (sample_name, sample_labels), value in scrape(base_url).items()
        if sample_name == f"fast_channels_{name}" and wanted <= sample_labels
    )


def sample_once_at(base_url: str, name: str, want: float, within: float, **labels: str) -> float:
    """`sample`, read again until it equals `want` or `within` seconds passed: for counts a
    server moves just after the client saw its side finish (a close the client completed
    before the server's disconnect handler ran). Returns the last value read."""
    deadline = time.monotonic() + within
    value = sample(base_url, name, **labels)
    while value != want and time.monotonic() < deadline:
        time.sleep(0.05)
        value = sample(base_url, name, **labels)
    return value


def post(url: str) -> Any:
    request = urllib.request.Request(url, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())
