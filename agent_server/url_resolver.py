"""The one DNS resolver that outbound URLs a business saves (webhook endpoints, form webhooks, actions) are checked with.

A single app key, so a test puts one stub resolver in place before the app starts and every
route that checks a URL on save uses it; the app owns (and closes) a threaded resolver otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver

URL_RESOLVER = web.AppKey("url_resolver", AbstractResolver)


async def _resolver(app: web.Application) -> AsyncIterator[None]:
    owned_here = URL_RESOLVER not in app
    if owned_here:
        app[URL_RESOLVER] = aiohttp.ThreadedResolver()
    yield
    if owned_here:
        await app[URL_RESOLVER].close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_resolver)
