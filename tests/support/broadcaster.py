"""A broadcaster process: posts numbered chat messages to demo servers at a fixed rate and says
on stdout what became of each ("accepted m-00001", "unsure m-00002").

A process of its own, as a backend service would be: in the test's process its posts waited on
the GIL behind hundreds of clients' frames (25 messages/s asked, ~11/s sent with 500 clients).
`python -m tests.support.broadcaster ROOM PER_SECOND IN_FLIGHT PORT...`; SIGTERM stops it after
the posts in flight, so every message it started is reported.
"""

from __future__ import annotations

import itertools
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import FrameType

import httpx


def post(client: httpx.Client, room: str, ports: list[int], number: int) -> str:
    """One message, to the servers in turn (starting with a different one each time): its
    outcome word. A refused connection or a 503 (draining) sent nothing: the next server is
    tried. A failure after the request may have arrived is "unsure"."""
    text = f"m-{number:05d}"
    for port in ports[number % len(ports) :] + ports[: number % len(ports)]:
        url = f"http://127.0.0.1:{port}/api/rooms/{room}/broadcast"
        try:
            response = client.post(url, json={"message": text})
        except httpx.ConnectError:
            continue
        except httpx.TransportError:
            return f"unsure {text}"
        if response.status_code == 202:
            return f"accepted {text}"
    return f"refused {text}"


def run(
    room: str, per_second: float, ports: list[int], stopping: threading.Event, in_flight: int
) -> None:
    """On a fixed schedule (a post's own time does not slow the rate), but never in a burst to
    catch up after a slow post: a burst could outrun a room's history. With `in_flight` > 1,
    that many posts may overlap (the rate holds while a loaded server answers slowly): their
    order in the room is then the layer's (the positions), not the order of the reports."""
    interval = 1 / per_second
    due = time.monotonic()
    slots = threading.Semaphore(in_flight)
    printing = threading.Lock()

    def one(number: int) -> None:
        began = time.monotonic()
        try:
            outcome = post(client, room, ports, number)
        finally:
            slots.release()
        with printing:
            print(outcome, f"{time.monotonic() - began:.4f}", flush=True)

    with httpx.Client(timeout=5) as client, ThreadPoolExecutor(in_flight) as pool:
        for number in itertools.count(1):
            due = max(due + interval, time.monotonic())
            if stopping.wait(due - time.monotonic()):
                return
            slots.acquire()  # at most in_flight posts at once: a stalled server is not piled on
            pool.submit(one, number)


def main(argv: list[str]) -> None:
    room, per_second, in_flight, *ports = argv
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    run(room, float(per_second), [int(port) for port in ports], stopping, int(in_flight))


if __name__ == "__main__":
    main(sys.argv[1:])
