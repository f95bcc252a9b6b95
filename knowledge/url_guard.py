"""Which addresses the crawler may reach: http(s) only, and never a private, loopback or reserved one.

A web page names the URLs the crawler fetches, so a hostile page could point it at the
metadata service (169.254.169.254), a database on the LAN or the server itself. The check
runs where the address is known: `GuardedResolver` filters every DNS answer the connector
gets (redirect hops included, since each one connects anew), and `check_url` refuses IP
literals, which aiohttp connects to without asking the resolver. Only what passed is dialled,
so a name that resolves to a refused address fails before any connection is opened.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from knowledge.errors import UrlNotAllowed

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Shared address space (carrier-grade NAT): not "private" to the ipaddress module, still not the internet.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def refusal(address: IpAddress) -> str | None:
    """Why the crawler must not connect to `address`, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        (address.is_loopback, "loopback"), (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"), (address.is_unspecified, "unspecified"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "carrier-grade NAT"),
        (address.is_private, "private"), (address.is_reserved, "reserved"),
        (not address.is_global, "not globally routable"),
    )
    return next((reason for refused, reason in checks if refused), None)


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_url(url: URL, allowed_private_hosts: Collection[str]) -> None:
    """Refuse a URL that is not http(s), has no host, or names a refused IP literal.

    Raises:
        UrlNotAllowed: naming the reason.
    """
    if url.scheme not in ("http", "https"):
        raise UrlNotAllowed(f"only http and https URLs are crawled, not {url.scheme or 'a relative URL'!r}")
    if not url.host:
        raise UrlNotAllowed("the URL has no host")
    if url.user is not None or url.password is not None:
        raise UrlNotAllowed("URLs with credentials are not crawled")
    if url.host in allowed_private_hosts:
        return
    literal = _literal(url.host)
    if literal is not None and (reason := refusal(literal)) is not None:
        raise UrlNotAllowed(f"{url.host} is a {reason} address")


class GuardedResolver(AbstractResolver):
    """A resolver that drops every refused address from the answer, and fails when none is left."""

    def __init__(self, allowed_private_hosts: Collection[str], inner: AbstractResolver | None = None) -> None:
        self._allowed = frozenset(allowed_private_hosts)
        self._inner = inner if inner is not None else aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        if host in self._allowed:
            return answers
        kept, reasons = [], []
        for answer in answers:
            address = ipaddress.ip_address(answer["host"])
            reason = None if answer["host"] in self._allowed else refusal(address)
            if reason is None:
                kept.append(answer)
            else:
                reasons.append(f"{answer['host']} ({reason})")
        if not kept:
            raise UrlNotAllowed(f"{host} resolves only to refused addresses: {', '.join(reasons) or 'none'}")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def guarded_session(allowed_private_hosts: Collection[str], *, connections_per_host: int,
                    user_agent: str, resolver: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """A client session for crawling: guarded DNS, no cookies, no proxy from the environment.

    Args:
        allowed_private_hosts: hosts (names or literals) exempt from the address check.
        connections_per_host: the connector's per-host cap (politeness).
        user_agent: sent with every request.
        resolver: the DNS resolver to guard (tests pass a stub); the system's by default.
    """
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allowed_private_hosts, resolver),
                                     limit_per_host=connections_per_host, limit=0)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                                 headers={"User-Agent": user_agent}, auto_decompress=True)
