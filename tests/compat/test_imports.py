"""Every import path and name 1.x code uses (1.0.2 and 1.1.0) resolves on ours."""

from __future__ import annotations

import importlib

import pytest

TYPE_NAMES = [
    "ChannelScope",
    "ChannelMessage",
    "ChannelHeaders",
    "ChannelCapacityPattern",
    "ChannelCapacityDict",
    "CompiledChannelCapacity",
    "CompiledChannelCapacities",
    "ASGIReceiveCallable",
    "ASGISendCallable",
    "ASGI3Application",
    "ASGIApplication",
    "ASGIApplicationProtocol",
    "MiddlewareProtocol",
    "ChannelApplication",
    "WebSocketConnectEvent",
    "WebSocketAcceptEvent",
    "WebSocketReceiveEvent",
    "WebSocketCloseEvent",
    "WebSocketDisconnectEvent",
    "HttpRequestEvent",
    "HttpResponseStartEvent",
    "HttpResponseBodyEvent",
    "HttpDisconnectEvent",
]

PUBLIC_NAMES: dict[str, list[str]] = {
    "fast_channels.utils": ["await_many_dispatch", "is_same_domain"],
    "fast_channels.type_defs": TYPE_NAMES,
    "fast_channels.consumer": [
        "AsyncConsumer",
        "AsyncHttpConsumer",
        "AsyncWebsocketConsumer",
        "AsyncJsonWebsocketConsumer",
    ],
    "fast_channels.consumer.base": [
        "AsyncConsumer",
        "get_handler_name",
        "await_many_dispatch",
        "ASGIApplication",
        "ASGIReceiveCallable",
        "ASGISendCallable",
        "ChannelMessage",
        "ChannelScope",
    ],
    "fast_channels.consumer.websocket": [
        "AsyncWebsocketConsumer",
        "AsyncJsonWebsocketConsumer",
        "ChannelHeaders",
        "WebSocketAcceptEvent",
        "WebSocketCloseEvent",
        "WebSocketConnectEvent",
        "WebSocketDisconnectEvent",
        "WebSocketReceiveEvent",
    ],
    "fast_channels.middleware": ["BaseMiddleware", "OriginValidator", "WebsocketDenier"],
    "fast_channels.middleware.base": [
        "BaseMiddleware",
        "ASGIReceiveCallable",
        "ASGISendCallable",
        "ChannelApplication",
        "ChannelScope",
    ],
    "fast_channels.middleware.websocket": [
        "OriginValidator",
        "WebsocketDenier",
        "is_same_domain",
        "Origin",
        "AllowedOrigins",
    ],
    "fast_channels.layers": [
        "BaseChannelLayer",
        "InMemoryChannelLayer",
        "ChannelLayerRegistry",
        "channel_layers",
        "get_channel_layer",
        "has_layers",
        "register_channel_layer",
        "unregister_channel_layer",
    ],
    "fast_channels.layers.redis": ["RedisChannelLayer", "RedisPubSubChannelLayer"],
    "fast_channels.layers.redis.core": ["RedisChannelLayer"],
    "fast_channels.layers.redis.pubsub": ["RedisPubSubChannelLayer"],
    "fast_channels.layers.redis.type_defs": [
        "ChannelRawRedisHost",
        "ChannelDecodedRedisHost",
        "SymmetricEncryptionKeys",
    ],
    "fast_channels.layers.redis.utils": [
        "consistent_hash",
        "close_redis",
        "decode_hosts",
        "create_pool",
        "wrap_close",
    ],
    "fast_channels.layers.redis.serializers": [
        "BaseMessageSerializer",
        "MissingSerializer",
        "JSONSerializer",
        "MsgPackSerializer",
        "SerializersRegistry",
        "SerializerDoesNotExist",
        "registry",
    ],
    "fast_channels.exceptions": [
        "ChannelFull",
        "MessageTooLarge",
        "StopConsumer",
        "AcceptConnection",
        "DenyConnection",
        "InvalidChannelLayerError",
    ],
    "fast_channels.consumer.http": [
        "AsyncHttpConsumer",
        "HttpDisconnectEvent",
        "HttpRequestEvent",
        "HttpResponseBodyEvent",
        "HttpResponseStartEvent",
    ],
    "fast_channels.testing": [
        "ApplicationCommunicator",
        "HttpCommunicator",
        "WebsocketCommunicator",
    ],
    "fast_channels.testing.http": ["HttpCommunicator", "ASGIApplication"],
    "fast_channels.testing.application": ["ApplicationCommunicator"],
    "fast_channels.testing.websocket": [
        "WebsocketCommunicator",
        "ChannelApplication",
        "ChannelHeaders",
        "ChannelScope",
        "Connected",
        "CloseCodeOrAcceptSubProtocol",
        "WebsocketConnectResponse",
    ],
}

CASES = [(module, name) for module, names in PUBLIC_NAMES.items() for name in names]


@pytest.mark.parametrize(("module", "name"), CASES, ids=[f"{m}:{n}" for m, n in CASES])
def test_name_imports(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name)


def test_make_fernet_is_a_serializer_method() -> None:
    from cryptography.fernet import Fernet

    from fast_channels.layers.redis.serializers import JSONSerializer

    fernet = JSONSerializer().make_fernet("a key")
    assert isinstance(fernet, Fernet)
    assert fernet.decrypt(fernet.encrypt(b"x")) == b"x"
