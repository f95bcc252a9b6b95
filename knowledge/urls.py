"""URL normalisation and scope: one spelling per page, so the same page is never fetched twice."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from yarl import URL

# Tracking parameters that name the visit, not the page.
_CLICK_IDS = frozenset({"gclid", "dclid", "fbclid", "msclkid", "yclid", "twclid", "igshid", "mc_cid", "mc_eid",
                        "_ga", "_gl", "ref_src"})


def _tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in _CLICK_IDS


def normalize(href: str, base: URL | None = None) -> URL | None:
    """`href` (resolved against `base`) in its one spelling, or None when it is no web page address.

    The fragment goes, tracking parameters (`utm_*`, click ids) go, the query is sorted, the
    host lower-cased and an empty path becomes `/`.
    """
    try:
        url = URL(href.strip())
        if base is not None and not url.is_absolute():
            url = base.join(url)
    except (ValueError, TypeError):
        return None
    if url.scheme not in ("http", "https") or not url.host:
        return None
    query = sorted((k, v) for k, v in url.query.items() if not _tracking(k))
    # yarl reports "/" as the path of "https://x.com" yet prints none: spell it out, one string per page.
    url = url.with_path(url.raw_path or "/", encoded=True).with_query(query)
    if (url.scheme, url.explicit_port) in (("http", 80), ("https", 443)):
        url = url.with_port(None)
    return url


def same_site(url: URL, start: URL) -> bool:
    """Same host as the start URL (a `www.` prefix on either side ignored) and the same port."""
    def bare(host: str | None) -> str:
        host = host or ""
        return host[4:] if host.startswith("www.") else host
    return bare(url.host) == bare(start.host) and url.port == start.port


def in_scope(url: URL, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """The path matches an `include` pattern (all paths when none) and no `exclude` pattern (shell-style `*`)."""
    path = url.raw_path or "/"
    if include and not any(fnmatch.fnmatchcase(path, p) for p in include):
        return False
    return not any(fnmatch.fnmatchcase(path, p) for p in exclude)
