"""Refuse websocket handshakes from pages on origins we do not trust (CSWSH)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import ParseResult, SplitResult, urlparse, urlsplit

from fast_channels.middleware.base import WebsocketDenier
from fast_channels.types import ASGIApp, Headers, Receive, Scope, Send

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int | None  # the explicit port, else the scheme's default


@dataclass(frozen=True)
class _Rule:
    scheme: str | None  # None: a bare host rule, any scheme
    host: str  # "example.com", ".example.com" or "*"
    port: int | None  # None: any port (bare host rules only)

    def matches(self, origin: _Origin) -> bool:
        if self.scheme is not None and self.scheme != origin.scheme:
            return False
        if self.port is not None and self.port != origin.port:
            return False
        if self.scheme is not None and self.port is None and origin.port is not None:
            return False  # the rule's scheme has no default port, the origin names one
        return _host_matches(self.host, origin.host)


def _host_matches(pattern: str, host: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("."):
        return host == pattern[1:] or host.endswith(pattern)
    return host == pattern


def _split(value: str) -> SplitResult | None:
    """Scheme, host and optional port, nothing else; None if it is not that."""
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 -- raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        return None
    if not url.hostname or url.username is not None or url.password is not None:
        return None
    if url.path or url.query or url.fragment or "?" in value or "#" in value:
        return None
    return url


def _parse_rule(rule: str) -> _Rule:
    if not isinstance(rule, str):
        raise TypeError(f"Expected each allowed origin as str, but got {type(rule).__name__}")
    schemed = "://" in rule
    url = _split(rule.lower() if schemed else f"//{rule.lower()}")
    if url is None or url.hostname is None or url.hostname.startswith("*"):
        # "*.example.com" included: 1.x matched it against nothing, so accepting it as
        # "every subdomain" would silently widen who may connect.
        raise ValueError(
            f"Expected an allowed origin like 'https://example.com[:port]', 'example.com', "
            f"'.example.com' (that domain and its subdomains) or '*', but got {rule!r}"
        )
    if not schemed:
        return _Rule(None, url.hostname, url.port)
    return _Rule(url.scheme, url.hostname, _effective_port(url))


def _parse_origin(value: bytes) -> _Origin | None:
    # latin-1 maps every byte, so decoding never fails; garbage fails parsing below.
    url = _split(value.decode("latin-1").strip().lower())
    if url is None or url.hostname is None or not url.scheme:
        return None
    return _Origin(url.scheme, url.hostname, _effective_port(url))


def _effective_port(url: SplitResult) -> int | None:
    return url.port if url.port is not None else DEFAULT_PORTS.get(url.scheme)


def _origin_header(headers: Headers) -> bytes | None:
    values = [value for name, value in headers if name.lower() == b"origin"]
    # Several Origin headers are ambiguous: treat them like a malformed one.
    return values[0] if len(values) == 1 else None


class OriginValidator:
    """Lets a websocket through only if its Origin header matches one of `allowed_origins`.

    Rules: "*" (anything, even no header); "https://example.com" and
    "http://example.com:8080" (that scheme, and that port or the scheme's default);
    "example.com" (any scheme, any port unless the rule names one); a leading "." also
    matches every subdomain. Other scopes pass untouched. Subclasses may override the
    hooks 1.x had: valid_origin, validate_origin, match_allowed_origin, get_origin_port.
    """

    def __init__(self, application: ASGIApp, allowed_origins: Iterable[str]) -> None:
        if isinstance(allowed_origins, str | bytes):
            raise TypeError(
                f"Expected allowed_origins as a list of str, but got {allowed_origins!r}"
            )
        self.application = application
        self.allowed_origins = list(allowed_origins)
        self._rules = {rule: _parse_rule(rule) for rule in self.allowed_origins if rule != "*"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and not self.valid_origin(
            _parsed_origin(scope.get("headers", []))
        ):
            await WebsocketDenier()(scope, receive, send)
            return
        await self.application(scope, receive, send)

    def valid_origin(self, parsed_origin: ParseResult | Headers | None) -> bool:
        """The Origin, parsed (None when missing or malformed: only "*" lets that in).
        Scope headers are accepted too."""
        if isinstance(parsed_origin, list):
            parsed_origin = _parsed_origin(parsed_origin)
        if parsed_origin is None and "*" not in self.allowed_origins:
            return False
        return self.validate_origin(parsed_origin)

    def validate_origin(self, parsed_origin: ParseResult | None) -> bool:
        return any(
            pattern == "*" or self.match_allowed_origin(parsed_origin, pattern)
            for pattern in self.allowed_origins
        )

    def match_allowed_origin(self, parsed_origin: ParseResult | None, pattern: str) -> bool:
        if parsed_origin is None or not parsed_origin.hostname or not parsed_origin.scheme:
            return False
        rule = self._rules.get(pattern)
        if rule is None:  # a pattern added to allowed_origins after construction
            rule = self._rules[pattern] = _parse_rule(pattern)
        port = self.get_origin_port(parsed_origin)
        return rule.matches(_Origin(parsed_origin.scheme, parsed_origin.hostname, port))

    def get_origin_port(self, origin: ParseResult) -> int | None:
        """The origin's port, else its scheme's default (80, 443), else None."""
        return origin.port if origin.port is not None else DEFAULT_PORTS.get(origin.scheme)


def _parsed_origin(headers: Headers) -> ParseResult | None:
    """The request's one Origin header, parsed; None if missing, repeated or malformed."""
    value = _origin_header(headers)
    if value is None or _parse_origin(value) is None:
        return None
    return urlparse(value.decode("latin-1").strip().lower())
