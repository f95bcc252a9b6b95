"""A fetched page turned into its title, main content as markdown, links, canonical URL and chunks.

trafilatura finds the main content (~9 ms for a 70 KB page) and selectolax reads the links:
CPU work that would stall the event loop carrying live calls, so `Extractor` runs it in a
process pool. `extract` itself is a pure function of the response.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import hashlib
import multiprocessing
import re

import trafilatura
from selectolax.lexbor import LexborHTMLParser

from yarl import URL

from knowledge.chunking import Chunk, chunk_markdown
from knowledge.urls import normalize, same_site


# Page chrome removed before trafilatura looks for the main content (it misses some on short pages).
_CHROME = ("nav, header, footer, aside, script, style, noscript, [role=navigation], [id*=cookie], [class*=cookie],"
           " [class*=consent], [id*=consent]")


@dataclasses.dataclass(frozen=True)
class Extracted:
    title: str
    markdown: str
    # The page's links to its own site, normalised (`urls.normalize`), each once, in page order: done
    # here, a page's hundred-odd links took about 2 ms of yarl on the crawler's event loop.
    links: tuple[str, ...]
    canonical: str | None
    noindex: bool
    content_hash: str
    chunks: tuple[Chunk, ...]


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _hash(markdown: str) -> str:
    return hashlib.sha256(" ".join(markdown.split()).encode()).hexdigest()


def links_of(body: bytes, charset: str | None) -> list[str]:
    """The hrefs of a page's links (selectolax: about a millisecond, no main-content search)."""
    tree = LexborHTMLParser(_decode(body, charset))
    return [href for a in tree.css("a[href]") if (href := a.attributes.get("href"))]


def _html(text: str, url: str) -> Extracted:
    tree = LexborHTMLParser(text)
    title_node = tree.css_first("title")
    og_title = tree.css_first('meta[property="og:title"]')
    title = (title_node.text(strip=True) if title_node is not None else "") or (
        (og_title.attributes.get("content") or "") if og_title is not None else "")
    base = URL(url)
    links = tuple(dict.fromkeys(str(u) for a in tree.css("a[href]") if (href := a.attributes.get("href"))
                                and (u := normalize(href, base)) is not None and same_site(u, base)))
    canonical_node = tree.css_first('link[rel="canonical"]')
    canonical = canonical_node.attributes.get("href") if canonical_node is not None else None
    robots = tree.css_first('meta[name="robots"]')
    noindex = robots is not None and "noindex" in (robots.attributes.get("content") or "").lower()
    for node in tree.css(_CHROME):
        node.decompose()
    markdown = trafilatura.extract(tree.html or "", url=url, output_format="markdown", include_formatting=True,
                                   include_links=False, include_comments=False, include_images=False) or ""
    return Extracted(title or url, markdown, links, canonical, noindex, _hash(markdown),
                     tuple(chunk_markdown(markdown)))


def extract(body: bytes, content_type: str, charset: str | None, url: str) -> Extracted:
    """Everything the crawler and the index need from one response (text/html or text/plain)."""
    text = _decode(body, charset)
    if content_type == "text/html":
        return _html(text, url)
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    markdown = re.sub(r"\r\n?", "\n", text).strip()
    return Extracted(first_line[:200] or url, markdown, (), None, False, _hash(markdown),
                     tuple(chunk_markdown(markdown)))


class Extractor:
    """Runs `extract` in worker processes (started on first use, by spawn: the parent holds threads and a loop)."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    async def extract(self, body: bytes, content_type: str, charset: str | None, url: str) -> Extracted:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self._workers, mp_context=multiprocessing.get_context("spawn"))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, extract, body, content_type, charset, url)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
