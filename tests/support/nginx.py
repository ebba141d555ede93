"""A real nginx (Debian's nginx-light) in front of N app servers, as a reverse proxy in a pod's
place: round-robin over the upstreams (WebSockets under /ws/ balanced on their own), WebSocket
upgrade passed through.

It runs unprivileged in the foreground (`daemon off`) with its own prefix directory: config,
pid file, error log and temp paths all in a temporary directory, a free loopback port. The
upstream ports are fixed when it starts; a test replaces the server behind a port (stop it,
start another on the same port) and nginx finds it there on its next connection. A refused
upstream connection is retried on the next server (`proxy_next_upstream error`), as an ingress
does while a pod is replaced.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.support.redis_server import free_port
from tests.support.uvicorn_server import wait_for_port

NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx",) if Path(path).exists()), None
)
SKIP_REASON = "nginx is not installed (apt-get install -y nginx-light)"

_CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 16384;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    # Never to disk: run as root (CI), nginx's workers are "nobody" and cannot write into the
    # temporary prefix; bodies and responses of the tests stay in memory buffers.
    client_body_buffer_size 1m;
    proxy_max_temp_file_size 0;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream app {{
{servers}
    }}
    # The same servers, balanced on their own: N sockets opened one after the other alternate
    # over the servers whatever HTTP requests (page, scripts) came between them.
    upstream sockets {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
{proxying}
        }}
        location /ws/ {{
            proxy_pass http://sockets;
{proxying}
        }}
    }}
}}
"""
_PROXYING = """\
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_read_timeout 1h;
            # A server being replaced refuses connections: try the next one, as an ingress
            # skips a pod that is not ready. max_fails=0 keeps nginx from marking it down
            # for a while, so the restarted server gets its share again at once.
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;"""


class Nginx:
    """One nginx process; `url`/`ws` reach it, `upstream_ports` are the servers behind it."""

    def __init__(self, upstream_ports: Sequence[int], port: int | None = None) -> None:
        if NGINX is None:
            raise RuntimeError(SKIP_REASON)
        self.upstream_ports = list(upstream_ports)
        self.port = free_port() if port is None else port
        self.prefix = Path(tempfile.mkdtemp(prefix="fc-nginx-"))
        servers = "\n".join(
            f"        server 127.0.0.1:{p} max_fails=0;" for p in self.upstream_ports
        )
        config = _CONFIG.format(
            prefix=self.prefix, servers=servers, port=self.port, proxying=_PROXYING
        )
        (self.prefix / "nginx.conf").write_text(config)
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"),
             "-e", str(self.prefix / "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for_port(self.port, process=self.process)
        except BaseException as error:
            self.stop()
            raise RuntimeError(f"nginx did not start: {self.error_log()}") from error

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)


@contextmanager
def nginx(upstream_ports: Sequence[int]) -> Iterator[Nginx]:
    proxy = Nginx(upstream_ports)
    try:
        yield proxy
    finally:
        proxy.stop()
