"""A crawl of the fake website: exactly the allowed pages indexed, every trap skipped with its reason."""

from __future__ import annotations

import time

from aiohttp.test_utils import TestServer
from yarl import URL

from knowledge.crawler import KnownPage
from knowledge.extraction import Extractor
from tests.fake_website import FakeWebsite
from tests.knowledge.crawling import crawl, spec_for


def _paths(urls: list[str]) -> set[str]:
    return {URL(u).path for u in urls}


async def test_crawl_indexes_exactly_the_allowed_pages(site_server: TestServer, website: FakeWebsite,
                                                       extractor: Extractor) -> None:
    report = await crawl(spec_for(site_server), extractor)
    assert _paths([p.canonical_url for p in report.pages]) == website.allowed_paths()
    reasons = {URL(s.url).path: s.reason for s in report.skipped}
    assert reasons["/private/staff"] == "disallowed by robots.txt"
    assert reasons["/about-us"].startswith("duplicate of its canonical URL")
    assert reasons["/loop-a"] == "redirect loop"
    assert reasons["/missing"] == "HTTP 404"
    assert reasons["/huge"].startswith("larger than")
    assert reasons["/slow"].startswith("no complete response within")
    assert reasons["/brochure.pdf"] == "content type application/pdf is not indexed"
    assert reasons["/old-hours"].startswith(f"redirects to {site_server.make_url('/opening-hours')}, crawled on its own")
    assert not report.deadline_reached


async def test_disallowed_urls_are_never_requested(site_server: TestServer, website: FakeWebsite,
                                                   extractor: Extractor) -> None:
    await crawl(spec_for(site_server), extractor)
    assert not [p for p in website.access_log if p.startswith("/private/")]
    assert website.access_log[0] == "/robots.txt"
    assert "/sitemap-pages.xml.gz" in website.access_log
    assert not [p for p in website.access_log if "utm_" in p]
    assert website.access_log.count("/opening-hours") == 1


async def test_pages_carry_no_boilerplate(site_server: TestServer, extractor: Extractor) -> None:
    report = await crawl(spec_for(site_server), extractor)
    hours = next(p for p in report.pages if p.url.endswith("/opening-hours"))
    text = " ".join(c.content for c in hours.chunks)
    assert "Monday to Friday" in text
    assert "cookies" not in text and "All rights reserved" not in text and "Rentals" not in text
    assert hours.title.startswith("Opening hours")
    assert hours.etag


async def test_crawl_delay_spaces_requests(site_server: TestServer, website: FakeWebsite,
                                           extractor: Extractor) -> None:
    website.crawl_delay = 0.2
    started = time.monotonic()
    report = await crawl(spec_for(site_server, max_pages=3, max_depth=1), extractor)
    elapsed = time.monotonic() - started
    requests = len(website.access_log)
    assert len(report.pages) == 3
    # The delay is known once robots.txt is read: every request after the next one waits its turn.
    assert requests >= 5
    assert elapsed >= 0.2 * (requests - 2) * 0.95


async def test_all_304_refresh_changes_nothing(site_server: TestServer, website: FakeWebsite,
                                               extractor: Extractor) -> None:
    first = await crawl(spec_for(site_server), extractor)
    known = {p.url: KnownPage(p.url, p.etag, p.last_modified, p.content_hash, p.links) for p in first.pages}
    again = await crawl(spec_for(site_server), extractor, known=known)
    assert again.pages == [] and again.gone == []
    assert set(again.unchanged) == set(known)


async def test_refresh_reindexes_an_edit_and_drops_a_deleted_page(site_server: TestServer, website: FakeWebsite,
                                                                   extractor: Extractor) -> None:
    first = await crawl(spec_for(site_server), extractor)
    known = {p.url: KnownPage(p.url, p.etag, p.last_modified, p.content_hash, p.links) for p in first.pages}
    website.pages["/pricing"] = website.pages["/pricing"].replace("49 euros", "59 euros")
    del website.pages["/warranty"]
    again = await crawl(spec_for(site_server), extractor, known=known)
    assert _paths([p.url for p in again.pages]) == {"/pricing"}
    assert _paths(again.gone) == {"/warranty"}


async def test_limits_end_the_crawl(site_server: TestServer, extractor: Extractor) -> None:
    report = await crawl(spec_for(site_server, max_pages=4), extractor)
    assert len(report.pages) == 4
    shallow = await crawl(spec_for(site_server, max_depth=0), extractor)
    assert _paths([p.url for p in shallow.pages]) <= {"/", "/about", "/pricing"}


async def test_include_and_exclude_patterns(site_server: TestServer, extractor: Extractor) -> None:
    report = await crawl(spec_for(site_server, include=("/news/*", "/"), exclude=("/news/post-1*",)), extractor)
    paths = _paths([p.url for p in report.pages])
    assert "/news/post-2" in paths and "/news/post-1" not in paths and "/pricing" not in paths
