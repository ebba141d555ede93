"""Writes the Grafana dashboards to dashboards/*.json.

python -m ops.dashboards.build           # regenerate
python -m ops.dashboards.build --check   # exit 1 if the committed JSON is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from ops.dashboards import layer, overview
from ops.dashboards.panels import JSON

OUTPUT = Path(__file__).resolve().parents[2] / "dashboards"
BOARDS: dict[str, Callable[[], JSON]] = {
    "fast-channels-overview.json": overview.build,
    "fast-channels-layer.json": layer.build,
}


def render(board: JSON) -> str:
    return json.dumps(board, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only compare with the files")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    stale = []
    for name, build in BOARDS.items():
        path, text = args.output / name, render(build())
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"stale: {', '.join(stale)} (run python -m ops.dashboards.build)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
