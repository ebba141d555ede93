"""Message serializers (msgpack, JSON, registered custom ones) with optional Fernet encryption.

A serializer turns the envelope dict into bytes and back. Encryption and the random prefix are
applied around `as_bytes`/`from_bytes`, so a custom serializer only implements those two.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

import msgpack

if TYPE_CHECKING:
    from cryptography.fernet import Fernet, MultiFernet

EncryptionKey = str | bytes


class SerializerDoesNotExist(KeyError):
    """No serializer is registered under the requested format name."""


class InvalidSerializerError(TypeError, AssertionError):
    """register_serializer() given something that is not a serializer class. A TypeError;
    an AssertionError too, which is what 1.x raised, so 1.x handlers still catch it."""


class MessageSerializer(Protocol):
    def serialize(self, message: dict[str, Any]) -> bytes: ...
    def deserialize(self, data: bytes) -> dict[str, Any]: ...


def make_fernet(key: EncryptionKey) -> Fernet:
    """A Fernet for one key. Any string is a key: derived like channels_redis does (SHA-256,
    base64), so keys are interchangeable with theirs."""
    try:
        from cryptography.fernet import Fernet
    except ImportError as exc:  # pragma: no cover - the crypto extra is installed in tests
        raise ImportError(
            "symmetric_encryption_keys needs the 'cryptography' package (the 'crypto' extra): "
            "pip install 'cryptography>=42'"
        ) from exc
    raw = key.encode("utf8") if isinstance(key, str) else key
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(raw).digest()))


class BaseMessageSerializer(ABC):
    def __init__(
        self,
        symmetric_encryption_keys: Iterable[EncryptionKey] | None = None,
        random_prefix_length: int = 0,
        expiry: float | None = None,
    ) -> None:
        if isinstance(symmetric_encryption_keys, str | bytes):
            raise ValueError("symmetric_encryption_keys must be a list of keys, not one key")
        if not isinstance(random_prefix_length, int):
            raise TypeError(f"random_prefix_length must be an int, got {random_prefix_length!r}")
        # Negative means no prefix, as in 1.x (which only added one for a length above 0).
        self.random_prefix_length = max(0, random_prefix_length)
        self.expiry = expiry
        self.crypter = self._make_crypter(symmetric_encryption_keys or ())

    def _make_crypter(self, keys: Iterable[EncryptionKey]) -> MultiFernet | None:
        """A MultiFernet over the keys, built with make_fernet(): the first encrypts, every
        key decrypts (rotation). None without keys."""
        fernets = [self.make_fernet(key) for key in keys]
        if not fernets:
            return None
        from cryptography.fernet import MultiFernet

        return MultiFernet(fernets)

    def make_fernet(self, key: EncryptionKey) -> Fernet:
        """A Fernet for one key (1.x's hook; override to derive keys another way)."""
        return make_fernet(key)

    @abstractmethod
    def as_bytes(self, message: dict[str, Any]) -> bytes: ...

    @abstractmethod
    def from_bytes(self, data: bytes) -> dict[str, Any]: ...

    def serialize(self, message: dict[str, Any]) -> bytes:
        data = self.as_bytes(message)
        if self.crypter is not None:
            data = self.crypter.encrypt(data)
        if self.random_prefix_length:
            # Uniqueness, not a secret (it is sent in the clear, outside any encryption): the
            # random module's generator, reseeded after a fork, not os.urandom's system call
            # per message (0.17 us instead of 0.55).
            data = random.randbytes(self.random_prefix_length) + data
        return data

    def deserialize(self, data: bytes) -> dict[str, Any]:
        if self.random_prefix_length:
            data = data[self.random_prefix_length :]
        if self.crypter is not None:
            # Fernet's own TTL check is a second line of defence behind the layer's expiry.
            ttl = None if self.expiry is None else int(self.expiry) + 10
            data = self.crypter.decrypt(data, ttl)
        return self.from_bytes(data)


class MissingSerializer(BaseMessageSerializer):
    """Registered in place of a serializer whose dependency is not installed: building it
    raises `exception`, which says what to install."""

    exception: Exception = ImportError("this serializer's dependency is not installed")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise self.exception

    def as_bytes(self, message: dict[str, Any]) -> bytes:  # pragma: no cover - never built
        raise self.exception

    def from_bytes(self, data: bytes) -> dict[str, Any]:  # pragma: no cover - never built
        raise self.exception


_CONTAINERS = (dict, list, tuple)  # isinstance with a tuple: faster than with `dict | list`
_SEQUENCES = (tuple, list)


def _require_scalar_keys(value: Any) -> None:
    """msgpack packs a tuple key as an array, which comes back as an unhashable list: the
    message would be accepted and then lost at the receiver. Refuse it at send time instead."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.__class__ is not str and isinstance(key, _SEQUENCES):
                raise TypeError(f"Message dict keys must be str, bytes or numbers, got {key!r}")
            if isinstance(item, _CONTAINERS):
                _require_scalar_keys(item)
    else:
        for item in value:
            if isinstance(item, _CONTAINERS):
                _require_scalar_keys(item)


class MsgPackSerializer(BaseMessageSerializer):
    # Set by a layer that applies the value rule (layers/values.py: str keys only) before
    # serializing: this walk would then check the same keys a second time (0.7 µs a message).
    keys_checked = False

    def as_bytes(self, message: dict[str, Any]) -> bytes:
        if not self.keys_checked:
            _require_scalar_keys(message)
        return msgpack.packb(message, use_bin_type=True)  # type: ignore[no-any-return]

    def from_bytes(self, data: bytes) -> dict[str, Any]:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)  # type: ignore[no-any-return]


class JSONSerializer(BaseMessageSerializer):
    def as_bytes(self, message: dict[str, Any]) -> bytes:
        return json.dumps(message, separators=(",", ":")).encode("utf8")

    def from_bytes(self, data: bytes) -> dict[str, Any]:
        return json.loads(data)  # type: ignore[no-any-return]


class SerializersRegistry:
    def __init__(self) -> None:
        self._registry: dict[str, type[Any]] = {}

    def register_serializer(self, format: str, serializer_class: type[Any]) -> None:
        """Register a class built like BaseMessageSerializer (same constructor arguments)."""
        if not isinstance(serializer_class, type) or not (
            callable(getattr(serializer_class, "serialize", None))
            and callable(getattr(serializer_class, "deserialize", None))
        ):
            raise InvalidSerializerError(
                "A serializer must be a class with serialize() and deserialize() methods "
                f"(e.g. a BaseMessageSerializer subclass), got {serializer_class!r}"
            )
        self._registry[format] = serializer_class

    def get_serializer(self, format: str, **options: Any) -> MessageSerializer:
        try:
            serializer_class = self._registry[format]
        except KeyError:
            raise SerializerDoesNotExist(
                f"No serializer {format!r}; registered: {sorted(self._registry)}"
            ) from None
        return serializer_class(**options)  # type: ignore[no-any-return]

    def formats(self) -> list[str]:
        return list(self._registry)


registry = SerializersRegistry()
registry.register_serializer("msgpack", MsgPackSerializer)
registry.register_serializer("json", JSONSerializer)
