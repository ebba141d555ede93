"""Redis with a password and an ACL user, over TLS, and encrypted messages at rest in Redis."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from redis.exceptions import AuthenticationError, ConnectionError
from structlog.testing import capture_logs

from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.layers.redis.common import RedisLayerBase
from tests.support.redis_server import RedisServer, free_port

PASSWORD = "s3cr3t-redis-pw-41"
LAYERS = [RedisChannelLayer, RedisPubSubChannelLayer]


async def round_trip(layer: RedisLayerBase) -> dict[str, Any]:
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    await layer.group_send("room", {"type": "m", "via": "group"})
    return await asyncio.wait_for(layer.receive(channel), 5)


@pytest.fixture(scope="module")
def acl_redis() -> Iterator[RedisServer]:
    """The default user needs a password; alice may do everything with hers."""
    server = RedisServer(
        None,
        "--requirepass", "admin-" + PASSWORD,
        "--user", "alice", "on", f">{PASSWORD}", "~*", "&*", "+@all",
    )  # fmt: skip
    server.start()
    yield server
    server.cleanup()


@pytest.mark.parametrize("cls", LAYERS)
async def test_an_acl_user_with_its_password_works(
    acl_redis: RedisServer, cls: type[RedisLayerBase]
) -> None:
    url = f"redis://alice:{PASSWORD}@127.0.0.1:{acl_redis.port}/0"
    async with cls(hosts=[url], prefix=f"acl-{uuid.uuid4().hex[:6]}") as layer:
        assert await round_trip(layer) == {"type": "m", "via": "group"}
        await layer.ping()
        await layer.flush()


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("user", ["alice:wrong-password", ":wrong-password", "mallory:x"])
async def test_a_wrong_password_is_a_clear_error_that_does_not_leak_it(
    acl_redis: RedisServer, cls: type[RedisLayerBase], user: str
) -> None:
    url = f"redis://{user}@127.0.0.1:{acl_redis.port}/0"
    async with cls(hosts=[url], prefix="acl-bad", socket_timeout=2) as layer:
        with capture_logs() as logs, pytest.raises(AuthenticationError) as raised:
            await layer.send("plain", {"type": "m"})
        with pytest.raises(AuthenticationError):
            await layer.ping()  # /readyz reports it
    assert "invalid username-password pair" in str(raised.value)
    assert "wrong-password" not in str(raised.value)
    assert "wrong-password" not in repr(logs)


@pytest.mark.parametrize("cls", LAYERS)
async def test_no_password_is_refused(acl_redis: RedisServer, cls: type[RedisLayerBase]) -> None:
    async with cls(hosts=[acl_redis.url], prefix="acl-none", socket_timeout=2) as layer:
        # redis-py 8 opens with HELLO; Redis answers that the client is not authenticated.
        with pytest.raises(AuthenticationError, match=r"NOAUTH|authenticated"):
            await layer.send("plain", {"type": "m"})


# -- TLS -----------------------------------------------------------------------------------


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None, ca_key: Any, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _write_pem(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_pki(directory: Path) -> None:
    """A throwaway CA (ca.crt), a server certificate for 127.0.0.1 signed by it (server.*), and
    an unrelated CA (other-ca.crt) that a client must not accept the server with."""
    for ca_name in ("ca", "other-ca"):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _certificate(f"fast-channels test {ca_name}", ca_key, None, ca_key, ca=True)
        _write_pem(directory / ca_name, ca_cert, ca_key)
        if ca_name == "ca":
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _certificate("127.0.0.1", key, ca_cert.subject, ca_key, ca=False)
            _write_pem(directory / "server", cert, key)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, int, Path]]:
    pki = tmp_path_factory.mktemp("pki")
    make_pki(pki)
    tls_port = free_port()
    server = RedisServer(
        None,
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(pki / "server.crt"),
        "--tls-key-file", str(pki / "server.key"),
        "--tls-ca-cert-file", str(pki / "ca.crt"),
        "--tls-auth-clients", "no",
    )  # fmt: skip
    try:
        server.start()
    except RuntimeError:
        log = (server.dir / "redis.log").read_text(errors="replace")
        server.cleanup()
        if "tls" in log.lower():
            pytest.skip(f"this redis-server was built without TLS support: {log[-300:]}")
        raise
    yield server, tls_port, pki
    server.cleanup()


@pytest.mark.parametrize("cls", LAYERS)
async def test_a_layer_talks_to_redis_over_tls(
    tls_redis: tuple[RedisServer, int, Path], cls: type[RedisLayerBase]
) -> None:
    _, tls_port, pki = tls_redis
    host = {"address": f"rediss://127.0.0.1:{tls_port}/0", "ssl_ca_certs": str(pki / "ca.crt")}
    async with cls(hosts=[host], prefix=f"tls-{uuid.uuid4().hex[:6]}") as layer:
        assert await round_trip(layer) == {"type": "m", "via": "group"}
        await layer.flush()
    # The TLS port speaks nothing but TLS: a plaintext PING gets no PONG.
    with socket.create_connection(("127.0.0.1", tls_port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        try:
            reply = sock.recv(16)
        except OSError:
            reply = b""
    assert not reply.startswith(b"+PONG")


@pytest.mark.parametrize("cls", LAYERS)
def test_tls_under_uvloop_the_loop_uvicorn_runs_on(
    tls_redis: tuple[RedisServer, int, Path], cls: type[RedisLayerBase]
) -> None:
    """The hot paths take redis-py's transport over (set_protocol): uvloop's TLS transport
    must hand its decrypted bytes to the new protocol as asyncio's does."""
    import uvloop

    _, tls_port, pki = tls_redis
    host = {"address": f"rediss://127.0.0.1:{tls_port}/0", "ssl_ca_certs": str(pki / "ca.crt")}

    async def check() -> None:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        async with cls(hosts=[host], prefix=f"tlsuv-{uuid.uuid4().hex[:6]}") as layer:
            for _ in range(3):
                assert await round_trip(layer) == {"type": "m", "via": "group"}
            await layer.flush()

    uvloop.run(check())


@pytest.mark.parametrize("cls", LAYERS)
async def test_a_server_certificate_from_an_untrusted_ca_is_refused(
    tls_redis: tuple[RedisServer, int, Path], cls: type[RedisLayerBase]
) -> None:
    _, tls_port, pki = tls_redis
    host = {
        "address": f"rediss://127.0.0.1:{tls_port}/0",
        "ssl_ca_certs": str(pki / "other-ca.crt"),
    }
    async with cls(hosts=[host], prefix="tls-bad", socket_timeout=2) as layer:
        with pytest.raises(ConnectionError, match="certificate verify failed"):
            await layer.send("plain", {"type": "m"})


# -- encryption at rest ----------------------------------------------------------------------

SECRET = "launch-code-0000-top-secret"


async def test_encrypted_messages_are_unreadable_in_redis(redis_server: RedisServer) -> None:
    prefix = f"enc-{uuid.uuid4().hex[:6]}"
    raw = redis.asyncio.Redis.from_url(redis_server.url)
    layer = RedisChannelLayer(
        hosts=[redis_server.url], prefix=prefix, symmetric_encryption_keys=["k3y"]
    )
    try:
        local = await layer.new_channel()  # nobody receives yet: frames wait in Redis
        await layer.send(local, {"type": "m", "secret": SECRET})
        await layer.send("plain.box", {"type": "m", "secret": SECRET})
        await layer.group_add("room", local)
        await layer.group_send("room", {"type": "m", "secret": SECRET})
        stored = []
        for key in [k async for k in raw.scan_iter(match=f"{prefix}:*")]:
            if await raw.type(key) == b"list":
                stored += await raw.lrange(key, 0, -1)
        assert len(stored) == 3
        for frame in stored:
            assert SECRET.encode() not in frame
            assert b"secret" not in frame  # the keys are encrypted too
        assert await layer.receive("plain.box") == {"type": "m", "secret": SECRET}
        assert await layer.receive(local) == {"type": "m", "secret": SECRET}
        assert await layer.receive(local) == {"type": "m", "secret": SECRET}
    finally:
        await layer.flush()
        await layer.close()
        await raw.aclose()


async def test_encrypted_pubsub_messages_are_unreadable_on_the_wire(
    redis_server: RedisServer,
) -> None:
    prefix = f"enc-{uuid.uuid4().hex[:6]}"
    raw = redis.asyncio.Redis.from_url(redis_server.url)
    spy = raw.pubsub()
    await spy.psubscribe(f"{prefix}:*")
    layer = RedisPubSubChannelLayer(
        hosts=[redis_server.url], prefix=prefix, symmetric_encryption_keys=["k3y"]
    )
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        await layer.group_send("room", {"type": "m", "secret": SECRET})
        assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "m", "secret": SECRET}
        seen = []
        async with asyncio.timeout(5):
            while not seen:
                message = await spy.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    seen.append(message["data"])
        assert SECRET.encode() not in seen[0]
        assert b"secret" not in seen[0]
    finally:
        await layer.close()
        await spy.aclose()
        await raw.aclose()
