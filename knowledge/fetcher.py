"""One page fetched the way a polite, careful crawler fetches it.

Redirects are followed here, hop by hop (at most `max_redirects`, loops caught), so every
hop's URL is checked (scheme, address literal, the caller's scope and robots rules) before it
is requested, and every hop waits its turn at the host's pacer. The body is streamed and
abandoned past `max_response_bytes`; the whole exchange, body included, gets
`response_timeout_seconds`. Only the content types asked for are read at all.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Collection

import aiohttp
from yarl import URL

from knowledge.config import KnowledgeConfig
from knowledge.errors import UrlNotAllowed
from knowledge.pacing import HostPacer
from knowledge.url_guard import check_url
from knowledge.urls import normalize

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_READ_CHUNK = 64 * 1024

# Why a hop may not be requested (outside the crawl's site, disallowed by robots.txt), or None.
HopCheck = Callable[[URL], str | None]


@dataclasses.dataclass(frozen=True)
class Fetched:
    """A response the crawler read: 200 with its body, 304 (unchanged) or 404/410 (gone) without one."""

    url: URL
    status: int
    content_type: str
    charset: str | None
    body: bytes
    etag: str | None
    last_modified: str | None


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A URL not indexed, and why (shown to the dashboard as the crawl's skip reasons)."""

    url: str
    reason: str


class TooLarge(Exception):
    pass


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    if response.content_length is not None and response.content_length > limit:
        raise TooLarge
    body = bytearray()
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


class Fetcher:
    """Fetches URLs through one guarded session, paced per host."""

    def __init__(self, session: aiohttp.ClientSession, config: KnowledgeConfig, pacer: HostPacer) -> None:
        self._session = session
        self._config = config
        self._pacer = pacer
        self.requested: list[str] = []

    async def fetch(self, url: URL, *, accept: Collection[str] | None, check: HopCheck | None = None,
                    etag: str | None = None, last_modified: str | None = None) -> Fetched | Skipped:
        """GET `url`, following redirects; `accept` lists the content types read (None: any).

        A skip names the URL asked for (the hop where it happened, when a redirect led there).
        """
        first, seen = url, {str(url)}
        for _ in range(self._config.max_redirects + 1):
            outcome = await self._checked_hop(url, accept, check, etag, last_modified)
            if isinstance(outcome, Skipped):
                where = "" if url == first else f" (redirected to {url})"
                return Skipped(str(first), outcome.reason + where)
            if isinstance(outcome, Fetched):
                return outcome
            if str(outcome) in seen:
                return Skipped(str(first), "redirect loop")
            seen.add(str(outcome))
            url = outcome
        return Skipped(str(first), f"more than {self._config.max_redirects} redirects")

    async def _checked_hop(self, url: URL, accept: Collection[str] | None, check: HopCheck | None,
                           etag: str | None, last_modified: str | None) -> Fetched | Skipped | URL:
        try:
            check_url(url, self._config.allowed_private_hosts)
        except UrlNotAllowed as exc:
            return Skipped(str(url), f"url_not_allowed: {exc}")
        if check is not None and (refused := check(url)) is not None:
            return Skipped(str(url), refused)
        return await self._hop(url, accept, etag, last_modified)

    async def _hop(self, url: URL, accept: Collection[str] | None, etag: str | None,
                   last_modified: str | None) -> Fetched | Skipped | URL:
        headers = {"Accept": ", ".join(accept) if accept else "*/*"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        assert url.host is not None
        await self._pacer.wait(url.host)
        self.requested.append(str(url))
        timeout = aiohttp.ClientTimeout(total=self._config.response_timeout_seconds)
        try:
            async with self._session.get(url, headers=headers, allow_redirects=False, timeout=timeout) as response:
                return await self._read(url, response, accept)
        except UrlNotAllowed as exc:
            return Skipped(str(url), f"url_not_allowed: {exc}")
        except TooLarge:
            return Skipped(str(url), f"larger than {self._config.max_response_bytes} bytes")
        except (asyncio.TimeoutError, TimeoutError):
            return Skipped(str(url), f"no complete response within {self._config.response_timeout_seconds:g} s")
        except aiohttp.ClientError as exc:
            return Skipped(str(url), f"unreachable: {type(exc).__name__}")

    async def _read(self, url: URL, response: aiohttp.ClientResponse,
                    accept: Collection[str] | None) -> Fetched | Skipped | URL:
        if response.status in _REDIRECTS:
            target = normalize(response.headers.get("Location", ""), url)
            return target if target is not None else Skipped(str(url), "redirect without a usable Location")
        content_type = response.content_type
        meta = (response.headers.get("ETag"), response.headers.get("Last-Modified"))
        if response.status in (304, 404, 410):
            return Fetched(url, response.status, content_type, None, b"", *meta)
        if response.status != 200:
            return Skipped(str(url), f"HTTP {response.status}")
        if accept is not None and content_type not in accept:
            return Skipped(str(url), f"content type {content_type or 'unknown'} is not indexed")
        body = await _read_capped(response, self._config.max_response_bytes)
        return Fetched(url, 200, content_type, response.charset, body, *meta)
