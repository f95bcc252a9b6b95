"""One crawl of a website: robots.txt, sitemaps, then breadth-first links, each page fetched, extracted and deduplicated.

The crawl stays on the start URL's site, inside the source's include/exclude patterns and
robots.txt (a disallowed URL is never requested). A crawl of listed pages (`CrawlSpec.pages`,
the dashboard's selected pages) fetches exactly those, reads no sitemap and follows no link.
A crawl ends cleanly at `max_pages` indexed
pages, `max_depth` link hops or the crawl deadline, whichever comes first. Known pages (a
refresh) are asked for with their ETag and Last-Modified: a 304 keeps the page as it was, a
404/410 drops it. What it found is returned as a `CrawlReport` for the store to write in one
transaction; nothing is written while the crawl runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping, Sequence

import structlog
from yarl import URL

from knowledge import robots as robots_txt
from knowledge import sitemaps
from knowledge.chunking import Chunk
from knowledge.config import KnowledgeConfig
from knowledge.errors import UrlNotAllowed
from knowledge.extraction import Extractor, links_of
from knowledge.fetcher import Fetched, Fetcher, Skipped
from knowledge.pacing import HostPacer
from knowledge.url_guard import check_url
from knowledge.urls import in_scope, normalize, same_site

log = structlog.get_logger(__name__)

PAGE_TYPES = ("text/html", "text/plain")
_MAX_SITEMAPS = 20
_SITEMAP_BYTES = 10 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class CrawlSpec:
    start_url: str
    max_pages: int
    max_depth: int
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # The exact pages to crawl, on the start URL's site; empty: discover the site's pages.
    pages: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class KnownPage:
    """A page of the source's active version, as a refresh asks for it again."""

    url: str
    etag: str | None
    last_modified: str | None
    content_hash: str
    # The page's links when it was fetched: a 304 has no body, and the pages it leads to still count.
    links: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class PageResult:
    url: str
    canonical_url: str
    title: str
    etag: str | None
    last_modified: str | None
    content_hash: str
    text_bytes: int
    chunks: tuple[Chunk, ...]
    links: tuple[str, ...]


@dataclasses.dataclass
class CrawlReport:
    found: int = 0
    fetched: int = 0
    pages: list[PageResult] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    gone: list[str] = dataclasses.field(default_factory=list)
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    deadline_reached: bool = False
    # Known pages the deadline left unvisited: kept as they were, so a cut-short refresh loses nothing.
    carried: list[str] = dataclasses.field(default_factory=list)

    @property
    def kept(self) -> int:
        return len(self.pages) + len(self.unchanged)


class Crawl:
    """The state of one crawl; `run` drives it to its end."""

    def __init__(self, spec: CrawlSpec, config: KnowledgeConfig, fetcher: Fetcher, pacer: HostPacer,
                 extractor: Extractor | None, known: Mapping[str, KnownPage]) -> None:
        self._spec = spec
        self._config = config
        self._fetcher = fetcher
        self._pacer = pacer
        self._extractor = extractor
        self._known = known
        self._deadline = time.monotonic() + config.crawl_deadline_seconds
        self._seen: set[str] = set()
        self._hashes: dict[str, str] = {}
        self._robots = robots_txt.for_status(404, "")
        self.report = CrawlReport()

    async def _begin(self) -> URL:
        start = normalize(self._spec.start_url)
        if start is None:
            raise UrlNotAllowed(f"{self._spec.start_url!r} is not a web page address")
        check_url(start, self._config.allowed_private_hosts)
        self._start = start
        await self._read_robots(start)
        return start

    async def run(self) -> CrawlReport:
        """Crawl to the end.

        Raises:
            UrlNotAllowed: the start URL is not one the crawler may reach.
        """
        start = await self._begin()
        if self._spec.pages:
            await self._visit_level([u for u in self._listed(start) if self._admit(u)], follow=False)
            self._carry_unvisited()
            return self.report
        level = [start] + [u for u in await self._sitemap_pages(start) if str(u) != str(start)]
        for depth in range(self._spec.max_depth + 1):
            level = [u for u in level if self._admit(u)]
            if not level or self._full() or self._late():
                break
            level = await self._visit_level(level, follow=depth < self._spec.max_depth)
        self._carry_unvisited()
        return self.report

    async def discover(self, limit: int) -> list[str]:
        """Up to `limit` candidate pages, indexing nothing: the sitemaps' pages, else the start page's links."""
        start = await self._begin()
        pages = [u for u in await self._sitemap_pages(start) if self._refusal(u) is None]
        if not pages:
            outcome = await self._fetcher.fetch(start, accept=("text/html",), check=self._refusal)
            if isinstance(outcome, Fetched) and outcome.status == 200:
                hrefs = await asyncio.to_thread(links_of, outcome.body, outcome.charset)
                pages = [start] + [u for h in hrefs if (u := normalize(h, outcome.url)) is not None
                                   and same_site(u, start) and self._refusal(u) is None]
        return list(dict.fromkeys(str(u) for u in pages))[:limit]

    def _listed(self, start: URL) -> list[URL]:
        """The listed pages as URLs on the site; the others are reported, never requested."""
        pages: list[URL] = []
        for raw in dict.fromkeys(self._spec.pages):
            url = normalize(raw, start)
            if url is not None and same_site(url, start):
                pages.append(url)
            else:
                self.report.found += 1
                self.report.skipped.append(Skipped(raw, "outside the site"))
        return pages

    def _carry_unvisited(self) -> None:
        """After a deadline, keep the known pages never reached (up to `max_pages`) rather than drop them."""
        if not self.report.deadline_reached:
            return
        report = self.report
        visited = {p.url for p in report.pages} | set(report.unchanged) | set(report.gone) | {
            s.url for s in report.skipped}
        room = max(self._spec.max_pages - report.kept, 0)
        report.carried = [url for url in self._known if url not in visited][:room]

    def _full(self) -> bool:
        return self.report.kept >= self._spec.max_pages

    def _late(self) -> bool:
        if time.monotonic() >= self._deadline:
            self.report.deadline_reached = True
        return self.report.deadline_reached

    def _admit(self, url: URL) -> bool:
        """Count a newly found URL once; refuse it (reported) when out of scope or disallowed."""
        key = str(url)
        if key in self._seen:
            return False
        self._seen.add(key)
        if not same_site(url, self._start):
            return False
        self.report.found += 1
        refused = self._refusal(url)
        if refused is not None:
            self.report.skipped.append(Skipped(key, refused))
            return False
        return True

    def _refusal(self, url: URL) -> str | None:
        if not same_site(url, self._start):
            return "outside the site"
        if not in_scope(url, self._spec.include, self._spec.exclude):
            return "outside the include/exclude patterns"
        if not self._robots.allowed(url):
            return "disallowed by robots.txt"
        return None

    async def _read_robots(self, start: URL) -> None:
        outcome = await self._fetcher.fetch(start.with_path("/robots.txt").with_query(None), accept=None)
        if isinstance(outcome, Fetched):
            self._robots = robots_txt.for_status(outcome.status, outcome.body.decode("utf-8", "replace"))
        elif not outcome.reason.startswith("unreachable"):
            self._robots = robots_txt.for_status(404, "")
        else:
            self._robots = robots_txt.for_status(503, "")
        if (delay := self._robots.crawl_delay) is not None and start.host:
            self._pacer.set_delay(start.host, delay)

    async def _sitemap_pages(self, start: URL) -> list[URL]:
        queue = [u for s in self._robots.sitemaps if (u := normalize(s)) is not None and same_site(u, start)]
        queue = queue or [start.with_path("/sitemap.xml").with_query(None)]
        pages: list[URL] = []
        done: set[str] = set()
        while queue and len(done) < _MAX_SITEMAPS and not self._late():
            url = queue.pop(0)
            if str(url) in done:
                continue
            done.add(str(url))
            outcome = await self._fetcher.fetch(url, accept=None, check=self._refusal)
            if not isinstance(outcome, Fetched) or outcome.status != 200:
                continue
            try:
                found = sitemaps.parse(outcome.body, max_bytes=_SITEMAP_BYTES)
            except sitemaps.SitemapError as exc:
                log.info("sitemap_unreadable", url=str(url), error=str(exc))
                continue
            queue += [u for s in found.sitemaps if (u := normalize(s)) is not None and same_site(u, start)]
            pages += [u for p in found.pages if (u := normalize(p)) is not None]
        return pages

    async def _visit_level(self, level: Sequence[URL], *, follow: bool) -> list[URL]:
        gate = asyncio.Semaphore(self._config.connections_per_host)
        next_level: list[URL] = []

        async def visit(url: URL) -> None:
            async with gate:
                if self._full() or self._late():
                    return
                next_level.extend(await self._visit(url, follow=follow))

        await asyncio.gather(*(visit(u) for u in level))
        return next_level

    async def _visit(self, url: URL, *, follow: bool) -> list[URL]:
        known = self._known.get(str(url))

        def hop_check(hop: URL) -> str | None:
            if str(hop) != str(url) and str(hop) in self._seen:
                return f"redirects to {hop}, crawled on its own"
            return self._refusal(hop)

        outcome = await self._fetcher.fetch(url, accept=PAGE_TYPES, check=hop_check,
                                            etag=known.etag if known else None,
                                            last_modified=known.last_modified if known else None)
        if isinstance(outcome, Skipped):
            self.report.skipped.append(outcome)
            return []
        self.report.fetched += 1
        if outcome.status == 304 and known is not None:
            self.report.unchanged.append(known.url)
            self._hashes[known.content_hash] = known.url
            return [u for href in known.links if (u := normalize(href))] if follow else []
        if outcome.status in (404, 410) and known is not None:
            self.report.gone.append(known.url)
        if outcome.status != 200:
            self.report.skipped.append(Skipped(str(url), f"HTTP {outcome.status}"))
            return []
        return await self._index(url, outcome, follow=follow)

    async def _index(self, url: URL, fetched: Fetched, *, follow: bool) -> list[URL]:
        assert self._extractor is not None, "discovery extracts nothing"
        page = await self._extractor.extract(fetched.body, fetched.content_type, fetched.charset, str(fetched.url))
        # Links already seen are dropped here: a site's every page linking its menu would otherwise fill
        # the next level with thousands of copies for `_admit` to turn away.
        links = [u for s in page.links if s not in self._seen and (u := normalize(s)) is not None] if follow else []
        canonical = normalize(page.canonical, fetched.url) if page.canonical else None
        final = canonical if canonical is not None and same_site(canonical, self._start) else fetched.url
        if str(final) != str(url) and str(final) != str(fetched.url) and str(final) in self._seen:
            self.report.skipped.append(Skipped(str(url), f"duplicate of its canonical URL {final}"))
            return links
        self._seen.add(str(final))
        if page.noindex:
            self.report.skipped.append(Skipped(str(url), "marked noindex"))
            return links
        if not page.chunks:
            self.report.skipped.append(Skipped(str(url), "no main content"))
            return links
        if (first := self._hashes.get(page.content_hash)) is not None:
            self.report.skipped.append(Skipped(str(url), f"same content as {first}"))
            return links
        if self._full():
            return []
        self._hashes[page.content_hash] = str(final)
        self.report.pages.append(PageResult(
            url=str(url), canonical_url=str(final), title=page.title, etag=fetched.etag,
            last_modified=fetched.last_modified, content_hash=page.content_hash,
            text_bytes=len(page.markdown.encode()), chunks=page.chunks, links=page.links))
        return links
