"""results.md's end-to-end sections (issue 22): each server over bare Starlette of the same
round, and uvicorn's WebSocket implementations over uvicorn's default."""

from __future__ import annotations

from typing import Any

from ops.bench import report_servers


def run(rate: float, cpu: float = 10.0) -> dict[str, Any]:
    return {
        "rate": rate,
        "server_cpu_us": cpu,
        "client_cpu_us": 4.0,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "lost": 0,
        "sent": 100,
        "expected": 100,
        "delivered": 100,
        "load_before": 1.5,
    }


def results() -> dict[str, Any]:
    return {
        "scenarios": {
            "e2e_N1000": {
                "params": {"clients": 1000, "repeat": 3},
                "impls": {
                    "socketio-py-redis": {"skipped": "python-socketio is not installed"},
                    "socketio-node-memory": {"runs": [run(200), run(90), run(300)]},
                    "bare": {"runs": [run(100), run(50), run(150)]},
                },
            },
            "e2e_ws_impls": {
                "params": {},
                "impls": {
                    "ours-memory-wsproto-nodeflate": {"runs": [run(120), run(120, cpu=5.0)]},
                    "ours-memory-websockets-sansio": {"runs": [run(100), run(80)]},
                },
            },
        }
    }


def test_each_round_is_divided_by_the_bare_rate_of_that_round() -> None:
    ratios = report_servers.rounds(results(), "e2e_N1000", "socketio-node-memory", "bare")
    assert ratios == [2.0, 1.8, 2.0]


def test_the_servers_table_puts_bare_first_and_says_why_a_row_did_not_run() -> None:
    text = "\n".join(report_servers.servers_section(results()))
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert rows[0].startswith("| bare Starlette")
    assert "| 2.00x (1.80-2.00) |" in rows[1]  # median, min-max of the rounds
    assert "Node Socket.IO 4, in-memory adapter" in rows[1]
    assert "not run: python-socketio is not installed" in rows[2]
    assert "Load average before the runs: 1.5-1.5." in text
    assert "Redis adapter writes to the local sockets directly" in text


def test_the_ws_table_compares_with_uvicorns_default_round_by_round() -> None:
    text = "\n".join(report_servers.ws_impls_section(results()))
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert rows[0].startswith("| websockets-sansio | 90.0 | 1.00x")  # the base, first
    assert "`websockets-sansio` is what uvicorn's `auto` picks" in text
    assert "| wsproto-nodeflate | 120.0 | 1.35x (1.20-1.50) | 7.50 | 0.75x (0.50-1.00) |" in text


def test_no_section_without_its_scenario() -> None:
    assert report_servers.servers_section({"scenarios": {}}) == []
    assert report_servers.ws_impls_section({"scenarios": {}}) == []
