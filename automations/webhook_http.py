"""Sending one webhook over HTTP: the URL policy, a guarded client session, and a capped, redirect-free POST.

A business chooses the URL, so without a guard a webhook would be a way into our network (the
metadata service at 169.254.169.254, a database on the LAN). The knowledge base's URL guard is
the one guard: on save a URL must be https (http only for an allow-listed host) and must not
name a refused IP literal; at every connection `GuardedResolver` drops refused addresses from
the DNS answer before anything is dialled, so a name re-pointed after it was saved is refused
too. DNS is not cached by the connector, so each new connection asks again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Collection, Mapping

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from automations.webhook_messages import Result
from knowledge.errors import UrlNotAllowed
from knowledge.url_guard import GuardedResolver, check_url

TIMEOUT_SECONDS = 15.0
# A receiver's answer is read this far for the log, then the connection is dropped.
READ_CAP_BYTES = 64 * 1024
_CHUNK = 16 * 1024


async def checked_url(raw: str, allowed_private_hosts: Collection[str], resolver: AbstractResolver) -> str:
    """The URL to save, when webhooks may go there: its host must resolve to an address the guard lets through.

    The sender checks again at each connection (a name may be re-pointed later); this check
    spares a business a URL that could never be delivered to.

    Raises:
        UrlNotAllowed: not https (http only for an allow-listed host), credentials in it, or a refused address.
    """
    try:
        url = URL(raw.strip())
    except ValueError:
        raise UrlNotAllowed("not a URL") from None
    if not url.is_absolute() or not url.host:
        raise UrlNotAllowed("not an absolute URL")
    if url.scheme != "https" and not (url.scheme == "http" and url.host in allowed_private_hosts):
        raise UrlNotAllowed("webhooks are sent only to https URLs")
    check_url(url, allowed_private_hosts)
    if _is_literal(url.host):
        return str(url)
    try:
        await GuardedResolver(allowed_private_hosts, resolver).resolve(url.host, url.port or 443)
    except OSError as exc:
        raise UrlNotAllowed(f"{url.host} does not resolve ({exc})") from None
    return str(url)


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def guarded_session(allowed_private_hosts: Collection[str], *, user_agent: str,
                    resolver: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """The sender's client session: guarded DNS on every connection, no cookies, no proxy from the environment."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allowed_private_hosts, resolver),
                                     use_dns_cache=False, limit=0)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                                 headers={"User-Agent": user_agent}, auto_decompress=False)


async def post(session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str], *,
               allowed_private_hosts: Collection[str], timeout: float = TIMEOUT_SECONDS,
               read_cap: int = READ_CAP_BYTES) -> Result:
    """POST the body once; never follow a redirect, stop reading the answer at `read_cap`.

    Every way of failing (refused address, timeout, reset, an oversized answer) comes back as a
    `Result` with an error, never as an exception: the caller logs it as an attempt.
    """
    started = time.monotonic()

    def done(status: int | None, error: str | None, retry_after: str | None = None) -> Result:
        return Result(status, error, int((time.monotonic() - started) * 1000), retry_after)

    try:
        check_url(URL(url), allowed_private_hosts)
        async with asyncio.timeout(timeout):
            async with session.post(url, data=body, allow_redirects=False,
                                    headers={**headers, "Content-Type": "application/json"}) as response:
                error = await _drain(response, read_cap)
                return done(response.status, error, response.headers.get("Retry-After"))
    except UrlNotAllowed as exc:
        return done(None, f"refused: {exc}")
    except TimeoutError:
        return done(None, f"no answer within {timeout:g} s")
    except (aiohttp.ClientError, OSError) as exc:
        return done(None, f"{type(exc).__name__}: {exc}"[:300])


async def _drain(response: aiohttp.ClientResponse, cap: int) -> str | None:
    """Read the answer up to `cap`; past it, close the connection and say so."""
    read = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        read += len(chunk)
        if read > cap:
            response.close()
            return f"answer longer than {cap} bytes: not read further"
    return None

