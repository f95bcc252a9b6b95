"""A form's webhookUrl checked on save with the knowledge base's URL guard: https, a public address after DNS.

The sender checks again at each connection (its own guarded resolver), because a name may
point elsewhere later; this check only spares a business a URL that could never be delivered
to. Plain http is refused unless the host is in `allowed_private_hosts` (the tests' receiver).
"""

from __future__ import annotations

from collections.abc import Collection

from aiohttp.abc import AbstractResolver
from yarl import URL

from knowledge.errors import UrlNotAllowed
from knowledge.url_guard import GuardedResolver, check_url


async def check_webhook_url(raw: str, allowed_private_hosts: Collection[str], resolver: AbstractResolver) -> str:
    """The URL as it will be stored, if a webhook may be sent to it.

    Raises:
        UrlNotAllowed: not https (unless allow-listed), no host, credentials, or only refused addresses.
    """
    try:
        url = URL(raw)
    except (ValueError, TypeError):
        raise UrlNotAllowed("not a URL") from None
    check_url(url, allowed_private_hosts)
    host = url.host or ""
    if url.scheme != "https" and host not in allowed_private_hosts:
        raise UrlNotAllowed("webhooks are sent over https only")
    try:
        await GuardedResolver(allowed_private_hosts, resolver).resolve(host, url.port or 443)
    except OSError as exc:
        raise UrlNotAllowed(f"{host} does not resolve: {exc}") from None
    return str(url)
