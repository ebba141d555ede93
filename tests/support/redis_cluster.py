"""A real 3-master Redis Cluster on loopback, started by the tests (no replicas).

`migrate_slot()` moves one slot (and its keys) to another master the way `redis-cli --cluster
reshard` does, so tests can check that the layers follow MOVED/ASK.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any

import redis

from tests.support.redis_server import RedisServer, free_port


def distinct_free_ports(count: int) -> list[int]:
    """`count` different free ports (free_port() alone may hand the same one out twice)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


class RedisCluster:
    def __init__(self, size: int = 3, replicas: int = 0) -> None:
        self.replicas = replicas
        count = size * (1 + replicas)
        ports = distinct_free_ports(2 * count)
        self.nodes = [
            RedisServer(ports[index], "--cluster-enabled", "yes", "--cluster-node-timeout", "1000")
            for index in range(count)
        ]
        for node, bus_port in zip(self.nodes, ports[count:], strict=True):
            node.extra_args += ["--cluster-config-file", str(node.dir / "nodes.conf")]
            # The bus port defaults to port + 10000, which may be taken or past 65535.
            node.extra_args += ["--cluster-port", str(bus_port)]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    @property
    def cluster_url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)
        return f"redis+cluster://{hosts}"

    def start(self, timeout: float = 20.0) -> None:
        for node in self.nodes:
            node.start()
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed")
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while not all(self._ok(node.port) and self._synced(node.port) for node in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster_state never became ok; see {self.nodes[0].dir}")
            time.sleep(0.05)

    def live(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.process is not None]

    def kill_owner(self, slot: int) -> int:
        """Kill the master serving `slot`; returns its port."""
        port = self.owner(slot)
        next(node for node in self.nodes if node.port == port).stop()
        return port

    def wait_for_new_owner(self, slot: int, old: int, timeout: float = 20.0) -> int:
        """Block until a replica serves `slot` instead of `old` and the cluster is ok."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                owner = self.owner(slot)
                if owner != old and all(self._ok(node.port) for node in self.live()):
                    return owner
            except redis.RedisError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"no replica took over slot {slot} from {old}")

    def _synced(self, port: int) -> bool:
        """A master, or a replica whose link to its master is up (else it cannot fail over)."""
        info: Any = self.call(port, "INFO", "replication")
        return info["role"] == "master" or info.get("master_link_status") == "up"

    def _ok(self, port: int) -> bool:
        info = self.call(port, "CLUSTER", "INFO")
        return "cluster_state:ok" in (info.decode() if isinstance(info, bytes) else str(info))

    def call(self, port: int, *args: object) -> object:
        """One raw command on one node, on a connection closed right after."""
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2) as client:
            return client.execute_command(*args)

    def node_id(self, port: int) -> str:
        return str(self.call(port, "CLUSTER", "MYID"), "ascii")

    def owner(self, slot: int) -> int:
        """The port of the master serving `slot`."""
        for start, end, master, *_ in self.call(self.live()[0].port, "CLUSTER", "SLOTS"):  # type: ignore[misc, union-attr]
            if int(start) <= slot <= int(end):
                return int(master[1])
        raise LookupError(slot)

    def migrate_slot(self, slot: int, target: int) -> None:
        """Move `slot` with its keys from its owner to the master on port `target`."""
        source = self.owner(slot)
        if source == target:
            return
        source_id, target_id = self.node_id(source), self.node_id(target)
        self.call(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        self.call(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        while True:
            keys = self.call(source, "CLUSTER", "GETKEYSINSLOT", slot, 100)
            if not keys:
                break
            self.call(source, "MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)  # type: ignore[misc]
        for node in self.nodes:
            self.call(node.port, "CLUSTER", "SETSLOT", slot, "NODE", target_id)

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()
