"""Private helpers shared by consumers and middleware."""

from __future__ import annotations

from typing import Any

from starlette.requests import cookie_parser


def parse_cookies(headers: Any) -> dict[str, str]:
    """The cookies of an ASGI scope's `headers`, read as Starlette reads them (Request.cookies):
    lenient like browsers, so `name=Ada Lovelace` and `"quoted"` values are kept, and a bad
    cookie never hides the others. Unlike Request.cookies, every Cookie header counts (HTTP/2
    clients may split them), later ones overriding earlier ones."""
    cookies: dict[str, str] = {}
    for name, value in headers or ():
        if name.lower() == b"cookie":
            cookies.update(cookie_parser(value.decode("latin-1")))
    return cookies
