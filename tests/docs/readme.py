"""The README's fenced code blocks, with the `<!-- readme-test: ... -->` marker above each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

_FENCE = re.compile(
    r"(?:^<!-- readme-test: (?P<marker>[^>]*?) -->\n)?^```(?P<lang>\w*)\n(?P<body>.*?)^```$",
    flags=re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    line: int  # of the opening fence, 1-based, for failure messages
    marker: str  # "" when the block has none

    @property
    def kind(self) -> str:
        return self.marker.split(" ", 1)[0]


def blocks(text: str | None = None) -> list[Block]:
    text = README.read_text() if text is None else text
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start("lang")) + 1
        marker = match.group("marker") or ""
        found.append(Block(match.group("lang"), match.group("body"), line, marker))
    return found
