"""Private helpers shared by consumers and middleware."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from typing import Any


def parse_cookies(headers: Any) -> dict[str, str]:
    """The cookies of an ASGI scope's `headers`; a malformed Cookie header yields what parsed."""
    cookies: dict[str, str] = {}
    for name, value in headers or ():
        if name.lower() != b"cookie":
            continue
        for chunk in value.decode("latin-1").split(";"):
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(chunk.strip())
            except CookieError:
                continue  # one bad cookie must not hide the others
            cookies.update({key: morsel.value for key, morsel in jar.items()})
    return cookies
