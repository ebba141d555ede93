"""Options keyed by channel or group name patterns (`channel_capacity`, `group_history`): a glob
or a compiled regex per entry, the first entry whose pattern matches a name wins."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

NamePattern = str | re.Pattern[str]
V = TypeVar("V")

# Names are unbounded (rooms, users): the memo of resolved names is capped.
_MEMO_MAX = 10_000


def compile_pattern(pattern: object, option: str) -> re.Pattern[str]:
    """A glob ("room.*", translated) or a compiled regex, as a regex; anything else is a
    TypeError naming the option."""
    if isinstance(pattern, re.Pattern):
        return pattern
    if isinstance(pattern, str):
        return re.compile(fnmatch.translate(pattern))
    raise TypeError(f"{option} keys must be globs or regexes, got {pattern!r}")


class PatternTable(Generic[V]):
    """name -> the value of the first matching pattern (or `default`), memoised per name."""

    def __init__(
        self,
        patterns: Mapping[NamePattern, object],
        option: str,
        value_of: Callable[[NamePattern, object], V],
        default: V,
    ) -> None:
        self.entries: list[tuple[re.Pattern[str], V]] = [
            (compile_pattern(pattern, option), value_of(pattern, value))
            for pattern, value in patterns.items()
        ]
        self.default = default
        self._memo: dict[str, V] = {}

    def __bool__(self) -> bool:
        return bool(self.entries)

    def lookup(self, name: str) -> V:
        try:
            return self._memo[name]
        except KeyError:
            pass
        found = self.default
        for pattern, value in self.entries:
            if pattern.match(name):
                found = value
                break
        if len(self._memo) < _MEMO_MAX:
            self._memo[name] = found
        return found
