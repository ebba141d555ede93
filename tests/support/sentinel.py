"""A real Sentinel topology on loopback: a master, a replica and three sentinels.

Tests own every process: they kill the master to force a failover and `cleanup()` kills the
rest. Sentinels decide quickly (`down-after-milliseconds` 1000, `failover-timeout` 3000).
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import redis

from tests.support.redis_server import RedisServer

MASTER_NAME = "mymaster"


class SentinelServer(RedisServer):
    """`redis-server sentinel.conf --sentinel`, monitoring one master."""

    def __init__(self, master_port: int) -> None:
        super().__init__()
        self.master_port = master_port

    def start(self) -> None:
        conf = self.dir / "sentinel.conf"
        if not conf.exists():  # sentinels rewrite their config: keep it across restarts
            conf.write_text(
                f"port {self.port}\n"
                "bind 127.0.0.1\n"
                f"dir {self.dir}\n"
                f"logfile {self.dir / 'sentinel.log'}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                f"sentinel failover-timeout {MASTER_NAME} 3000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
        self.process = subprocess.Popen(
            [self.binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL
        )
        self._wait_until_ready()


class SentinelTopology:
    def __init__(self) -> None:
        self.master = RedisServer()
        self.replica = RedisServer(None, "--replicaof", "127.0.0.1", "0")
        self.replica.extra_args[-1] = str(self.master.port)
        self.sentinels = [SentinelServer(self.master.port) for _ in range(3)]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", sentinel.port) for sentinel in self.sentinels]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}"

    def start(self, timeout: float = 20.0) -> None:
        self.master.start()
        self.replica.start()
        for sentinel in self.sentinels:
            sentinel.start()
        deadline = time.monotonic() + timeout
        while not self._ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"Sentinel topology not ready; see {self.sentinels[0].dir}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        """The replica is in sync and every sentinel knows the replica and the other two."""
        info = self._call(self.replica.port, "info", "replication")
        if info.get("master_link_status") != "up":
            return False
        for sentinel in self.sentinels:
            if len(self._call(sentinel.port, "sentinel_sentinels", MASTER_NAME)) < 2:
                return False
            if not self._call(sentinel.port, "sentinel_slaves", MASTER_NAME):
                return False
        return True

    def master_port(self) -> int:
        """The master's port as the sentinels currently see it."""
        _, port = self._call(
            self.sentinels[0].port, "sentinel_get_master_addr_by_name", MASTER_NAME
        )
        return int(port)

    def wait_for_new_master(self, old_port: int, timeout: float = 20.0) -> int:
        """Block until every sentinel names a master other than `old_port` that takes writes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ports = set()
            for sentinel in self.sentinels:
                addr = self._call(sentinel.port, "sentinel_get_master_addr_by_name", MASTER_NAME)
                ports.add(int(addr[1]) if addr else 0)
            if len(ports) == 1 and old_port not in ports and 0 not in ports:
                (port,) = ports
                if self._call(port, "info", "replication").get("role") == "master":
                    return port
            time.sleep(0.05)
        raise RuntimeError("no failover happened in time")

    def failover(self) -> None:
        """A graceful failover: the replica is promoted, the old master becomes its replica."""
        self._call(self.sentinels[0].port, "execute_command", "SENTINEL", "FAILOVER", MASTER_NAME)

    def role(self, port: int) -> str:
        return str(self._call(port, "info", "replication")["role"])

    def server_on(self, port: int) -> RedisServer:
        return self.master if self.master.port == port else self.replica

    def _call(self, port: int, method: str, *args: Any) -> Any:
        """One command on one server, on a connection closed right after."""
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1) as client:
            return getattr(client, method)(*args)

    def cleanup(self) -> None:
        for server in (self.master, self.replica, *self.sentinels):
            server.cleanup()
