from __future__ import annotations

import pytest

from fast_channels.middleware import OriginValidator
from fast_channels.testing import ApplicationCommunicator, WebsocketCommunicator
from fast_channels.types import Headers, Receive, Scope, Send


async def accept_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    await receive()
    await send({"type": "websocket.accept"})
    await receive()


async def handshake(rules: list[str], headers: Headers) -> tuple[bool, object]:
    communicator = WebsocketCommunicator(OriginValidator(accept_app, rules), "/", headers)
    result = await communicator.connect()
    await communicator.disconnect()
    return result


def origin(value: bytes) -> Headers:
    return [(b"origin", value)]


ALLOWED = [
    (["*"], b"https://anything.test"),
    (["https://example.com"], b"https://example.com"),
    (["https://example.com"], b"https://example.com:443"),
    (["https://EXAMPLE.com"], b"HTTPS://Example.COM"),
    (["http://example.com:8080"], b"http://example.com:8080"),
    (["http://localhost:8000", "https://example.com"], b"http://localhost:8000"),
    (["example.com"], b"http://example.com"),
    (["example.com"], b"https://example.com"),
    (["example.com"], b"http://example.com:8080"),
    (["example.com:8080"], b"https://example.com:8080"),
    ([".example.com"], b"https://example.com"),
    ([".example.com"], b"https://chat.example.com"),
    ([".example.com"], b"https://a.b.example.com:8443"),
    (["https://.example.com"], b"https://example.com"),
    (["http://[::1]:8000"], b"http://[::1]:8000"),
]

DENIED = [
    (["https://example.com"], b"http://example.com"),
    (["https://example.com"], b"https://example.com:8443"),
    (["https://example.com"], b"https://evil.com"),
    (["https://example.com"], b"https://example.com.evil.com"),
    (["https://example.com"], b"https://sub.example.com"),
    (["http://example.com:8080"], b"http://example.com"),
    (["http://example.com:8080"], b"http://example.com:8081"),
    (["http://example.com:8080"], b"https://example.com:8080"),
    (["example.com"], b"https://notexample.com"),
    (["example.com:8080"], b"http://example.com"),
    ([".example.com"], b"https://badexample.com"),
    ([".example.com"], b"https://example.com.evil.com"),
    ([], b"https://example.com"),
]

MALFORMED = [
    b"null",
    b"",
    b"example.com",
    b"https://",
    b"https://example.com:notaport",
    b"https://example.com:99999",
    b"https://[::1",
    b"https://user:pw@example.com",
    b"https://example.com/path",
    b"https://example.com?x=1",
    b"https://example.com#x",
    b"\xff\xfe\x00",
]


@pytest.mark.parametrize(("rules", "value"), ALLOWED)
async def test_matching_origin_is_accepted(rules: list[str], value: bytes) -> None:
    assert await handshake(rules, origin(value)) == (True, None)


@pytest.mark.parametrize(("rules", "value"), DENIED)
async def test_other_origin_is_denied_with_403(rules: list[str], value: bytes) -> None:
    assert await handshake(rules, origin(value)) == (False, 403)


@pytest.mark.parametrize("value", MALFORMED)
async def test_malformed_origin_is_denied(value: bytes) -> None:
    rules = ["example.com", "https://example.com", ".example.com"]
    assert await handshake(rules, origin(value)) == (False, 403)


async def test_missing_origin_is_denied() -> None:
    assert await handshake(["https://example.com", "example.com"], []) == (False, 403)


async def test_missing_origin_is_allowed_by_star() -> None:
    assert await handshake(["*"], []) == (True, None)


async def test_two_origin_headers_are_denied() -> None:
    headers = [(b"origin", b"https://example.com"), (b"origin", b"https://example.com")]
    assert await handshake(["https://example.com"], headers) == (False, 403)


async def test_origin_header_name_is_case_insensitive() -> None:
    headers = [(b"Origin", b"https://example.com")]
    assert await handshake(["https://example.com"], headers) == (True, None)


async def test_http_scopes_pass_through_untouched() -> None:
    validator = OriginValidator(accept_app, ["https://example.com"])
    communicator = ApplicationCommunicator(validator, {"type": "http", "headers": []})
    await communicator.send_input({"type": "http.request", "body": b""})
    assert (await communicator.receive_output())["status"] == 200


@pytest.mark.parametrize(
    "rule",
    [
        "https://",
        "example.com/path",
        "https://example.com:x",
        "http://example.com?q",
        "*.example.com",  # 1.x matched nothing with it: refused rather than widened
        "https://*.example.com",
    ],
)
def test_invalid_rule_is_rejected_at_construction(rule: str) -> None:
    with pytest.raises(ValueError, match="Expected an allowed origin like"):
        OriginValidator(accept_app, [rule])


def test_a_single_string_is_rejected() -> None:
    with pytest.raises(TypeError, match="Expected allowed_origins as a list"):
        OriginValidator(accept_app, "https://example.com")


def test_valid_origin_is_usable_without_a_connection() -> None:
    validator = OriginValidator(accept_app, [".example.com"])
    assert validator.valid_origin(origin(b"https://a.example.com")) is True
    assert validator.valid_origin(origin(b"https://example.org")) is False
