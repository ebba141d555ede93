"""The README's table of contents names every section, and every `#anchor` link finds a heading."""

from __future__ import annotations

import re

from tests.docs.readme import README


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(text: str) -> list[tuple[int, str]]:
    without_code = re.sub(r"^```.*?^```$", "", text, flags=re.M | re.S)
    return [(len(m[1]), m[2]) for m in re.finditer(r"^(#{1,6}) (.+)$", without_code, re.M)]


def contents(text: str) -> str:
    return text.split("## Contents\n", 1)[1].split("\n## ", 1)[0]


def test_the_contents_name_every_section() -> None:
    text = README.read_text()
    sections = [title for level, title in headings(text) if level == 2 and title != "Contents"]
    linked = set(re.findall(r"\]\(#([^)]+)\)", contents(text)))
    assert [title for title in sections if slug(title) not in linked] == []


def test_every_anchor_link_finds_a_heading() -> None:
    text = README.read_text()
    anchors = {slug(title) for _, title in headings(text)}
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert sorted(links - anchors) == []
