"""1.x middleware code: OriginValidator's hooks, WebsocketDenier.as_asgi()."""

from __future__ import annotations

from urllib.parse import ParseResult, urlparse

import pytest

from fast_channels.middleware.websocket import OriginValidator, WebsocketDenier
from fast_channels.testing import WebsocketCommunicator
from fast_channels.types import Receive, Scope, Send


async def accept_app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    await receive()


async def connect(app: object, origin: bytes) -> tuple[bool, object]:
    communicator = WebsocketCommunicator(app, "/", [(b"origin", origin)])  # type: ignore[arg-type]
    result = await communicator.connect()
    await communicator.disconnect()
    return result


async def test_websocket_denier_as_asgi_denies() -> None:
    assert await connect(WebsocketDenier.as_asgi(), b"https://example.com") == (False, 403)


def test_valid_origin_takes_a_parsed_origin_as_in_1x() -> None:
    validator = OriginValidator(accept_app, [".example.com"])
    assert validator.valid_origin(urlparse("https://chat.example.com")) is True
    assert validator.valid_origin(urlparse("https://example.org")) is False
    assert validator.valid_origin(None) is False
    assert OriginValidator(accept_app, ["*"]).valid_origin(None) is True


def test_get_origin_port_defaults_by_scheme() -> None:
    validator = OriginValidator(accept_app, ["*"])
    assert validator.get_origin_port(urlparse("https://a.test")) == 443
    assert validator.get_origin_port(urlparse("ws://a.test")) == 80
    assert validator.get_origin_port(urlparse("http://a.test:8080")) == 8080
    assert validator.get_origin_port(urlparse("ftp://a.test")) is None


async def test_an_overridden_validate_origin_decides() -> None:
    class OnlyInternal(OriginValidator):
        def validate_origin(self, parsed_origin: ParseResult | None) -> bool:
            return parsed_origin is not None and parsed_origin.hostname == "intranet"

    app = OnlyInternal(accept_app, [])
    assert await connect(app, b"http://intranet") == (True, None)
    assert await connect(app, b"http://example.com") == (False, 403)


async def test_an_overridden_match_allowed_origin_decides() -> None:
    class AnyPort(OriginValidator):
        def match_allowed_origin(self, parsed_origin: ParseResult | None, pattern: str) -> bool:
            return parsed_origin is not None and parsed_origin.hostname == pattern

    app = AnyPort(accept_app, ["example.com"])
    assert await connect(app, b"https://example.com:9999") == (True, None)


def test_a_star_dot_pattern_is_refused_naming_the_supported_forms() -> None:
    with pytest.raises(ValueError, match=r"'\.example\.com'.*'\*'") as caught:
        OriginValidator(accept_app, ["*.example.com"])
    assert "'*.example.com'" in str(caught.value)
