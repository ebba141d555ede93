"""A WebSocket load generator measuring client → client delivery latency through rooms.

python -m ops.loadgen --url ws://127.0.0.1:8000 --clients 50 --rooms 5 --rate 200 --duration 30
"""

from ops.loadgen.runner import Config, run
from ops.loadgen.stats import Report

__all__ = ["Config", "Report", "run"]
