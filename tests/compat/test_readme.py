"""The README lists, in one place, where this package differs from 1.x on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def section() -> str:
    text = README.read_text()
    start = text.index("## Differences from fast-channels 1.x")
    return text[start : text.index("\n## ", start + 1)]


@pytest.mark.parametrize(
    "row",
    [
        "No wire compatibility",
        "add_websocket_route",
        "1003",
        "honours `capacity` and `expiry`",
        "drops expired messages when it receives them",
        "1 MiB",
        "`TypeError`",
        "drops the newest",
        "compact JSON",
        "must be a dict",
        '"*.example.com"',
    ],
)
def test_each_difference_has_a_row_with_reason_and_remedy(row: str) -> None:
    lines = [line for line in section().splitlines() if row in line and line.startswith("| ")]
    assert lines, row
    assert lines[0].count(" | ") >= 2  # difference | why | what to do
