"""The demo's member list in real headless Chromium tabs on two servers (issue 20).

Three tabs on two demo servers sharing one Redis each list all three names (the element whose
id is `members`) within 5 s; closing one tab removes its name from the others' lists within
10 s. Behind nginx when tests/support/nginx.py is there (the recovery work adds it); until then
the tabs connect to the two servers directly (two on one, one on the other), which exercises
the same cross-process path.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from tests.demo.cdp import Page, open_page
from tests.demo.conftest import DemoServer
from tests.demo.test_browser import CHROMIUM
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")

MEMBERS = (
    "[...document.querySelectorAll('#members li')]"
    ".map((li) => li.textContent.replace(' (you)', '')).sort().join(',')"
)


@contextmanager
def front_urls(servers: list[DemoServer]) -> Iterator[list[str]]:
    """The base URL of each of three tabs: nginx's for all when available, else the servers'."""
    if importlib.util.find_spec("tests.support.nginx") is None:
        yield [servers[0].http, servers[1].http, servers[1].http]
        return
    from tests.support import nginx as proxy_module

    if proxy_module.NGINX is None:
        yield [servers[0].http, servers[1].http, servers[1].http]
        return
    with proxy_module.nginx([server.port for server in servers]) as proxy:
        yield [proxy.url] * 3


def join_as(page: Page, name: str) -> None:
    page.wait_for("document.getElementById('status').dataset.state", lambda s: s == "connected", 10)
    page.evaluate(
        f"document.getElementById('name').value = {name!r};"
        "document.getElementById('join').requestSubmit()"
    )


def test_three_tabs_on_two_servers_list_each_other(own_redis_server: RedisServer) -> None:
    assert CHROMIUM is not None
    servers: list[DemoServer] = []
    try:
        for _ in range(2):
            servers.append(DemoServer("--redis-url", own_redis_server.url, "--no-worker"))
        with front_urls(servers) as urls, ExitStack() as staying:
            pages = [
                staying.enter_context(open_page(CHROMIUM, f"{url}/rooms/presence"))
                for url in urls[:2]
            ]
            with open_page(CHROMIUM, f"{urls[2]}/rooms/presence") as leaving:
                for page, name in zip([*pages, leaving], ("ann", "bob", "cid"), strict=True):
                    join_as(page, name)
                for page in [*pages, leaving]:
                    page.wait_for(MEMBERS, lambda names: names == "ann,bob,cid", 5)
            # The third tab's Chromium is gone (killed): its socket closed, its member left.
            for page in pages:
                page.wait_for(MEMBERS, lambda names: names == "ann,bob", 10)
            notices = "document.getElementById('messages').textContent"
            assert "cid left" in pages[0].evaluate(notices)
    finally:
        for server in servers:
            server.stop()
