"""Who may talk to a public widget: allowed origins and the client's IP address (pure checks)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased, default ports dropped ('' when not http(s))."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    default = {"http": 80, "https": 443}[parts.scheme]
    try:
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def allowed_origins(configured: Iterable[str], public_url: str) -> frozenset[str]:
    """An agent's allowed origins; with none configured, only the server's own public origin."""
    origins = frozenset(o for o in (origin_of(c) for c in configured) if o)
    return origins or frozenset({origin_of(public_url)})


def origin_allowed(origin: str | None, configured: Iterable[str], public_url: str) -> bool:
    return bool(origin) and origin_of(origin or "") in allowed_origins(configured, public_url)


def client_ip(peer: str | None, forwarded_for: str, hops: int) -> str:
    """The visitor's IP: the socket peer, or behind `hops` trusted proxies the address they saw.

    Each proxy appends the address it received from, so with N trusted proxies the client
    is the Nth entry from the right of X-Forwarded-For; anything further left is the
    client's own claim and cannot be trusted.
    """
    if hops <= 0:
        return peer or "unknown"
    chain = [part.strip() for part in forwarded_for.split(",") if part.strip()]
    if len(chain) < hops:
        return peer or "unknown"
    return chain[-hops]
