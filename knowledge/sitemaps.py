"""Sitemaps (urlset and sitemap index, plain or gzipped) read into the page and sitemap URLs they list."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ElementTree
import zlib


class SitemapError(ValueError):
    """The document is no sitemap, or it unpacks beyond the size allowed."""


@dataclasses.dataclass(frozen=True)
class Sitemap:
    pages: list[str]
    sitemaps: list[str]


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise SitemapError(f"bad gzip data: {exc}") from exc
    if len(out) > max_bytes:
        raise SitemapError(f"unpacks to more than {max_bytes} bytes")
    return out


def parse(body: bytes, *, max_bytes: int) -> Sitemap:
    """The `<loc>`s of a `<urlset>` (pages) or a `<sitemapindex>` (more sitemaps).

    Raises:
        SitemapError: not XML, not a sitemap, or bigger than `max_bytes` once unpacked.
    """
    if body[:2] == b"\x1f\x8b":
        body = _gunzip(body, max_bytes)
    if b"<!DOCTYPE" in body[:1024] or b"<!ENTITY" in body[:4096]:
        raise SitemapError("sitemaps declare no entities")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise SitemapError(f"not XML: {exc}") from exc
    kind = root.tag.rsplit("}", 1)[-1]
    locs = [el.text.strip() for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "loc" and el.text]
    if kind == "urlset":
        return Sitemap(locs, [])
    if kind == "sitemapindex":
        return Sitemap([], locs)
    raise SitemapError(f"unexpected root element <{kind}>")
