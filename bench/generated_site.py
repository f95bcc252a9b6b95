"""A generated website for crawl benches: `pages` pages of about 50 KB each, served from memory on 127.0.0.1.

Each page is shaped like a real one: a head with inline CSS and a script, a navigation bar
of 60 links, a cookie banner, the main content (a title and six sections of three
paragraphs, about 2,000 words, about 13 KB of text), related links to five other pages, and
a footer. The first page is `/`; robots.txt allows everything, sets no Crawl-delay and names
the sitemap, which lists every page. Pages are built once, seeded, before the server starts,
so serving them costs the bench next to nothing.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

PAGE_BYTES = 50_000

_WORDS = (
    "bicycle wheel frame brake chain gear saddle pedal tyre tube spoke rim hub crank cassette derailleur cable "
    "lever handlebar stem fork shock pump valve pressure service repair workshop mechanic customer order delivery "
    "warranty return refund invoice payment card booking appointment week month hour morning evening weekend "
    "holiday season spring summer autumn winter road trail city mountain gravel electric battery motor charger "
    "range speed weight size height rider child adult helmet light lock bell basket rack mudguard bottle cage "
    "price cost euro discount member plan rental deposit insurance theft accident damage report claim form team "
    "store branch address parking train station bus route map distance minute daily weekly monthly yearly "
    "adjust replace check clean oil grease tighten loosen align measure fit test ride carry store ship pack "
    "quickly carefully usually always often sometimes never before after during while because although unless "
    "the a an and or but with without for from into onto over under between about around through every each"
).split()


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 20))]
    return " ".join(words).capitalize() + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(5, 9)))


def page_html(index: int, pages: int, rng: random.Random) -> str:
    """Page `index` of the site: about 50 KB of HTML, about 13 KB of it main text."""
    title = " ".join(rng.choice(_WORDS) for _ in range(4)).title()
    style = "<style>" + "".join(f".c{i}{{margin:{i}px;padding:{i % 7}px;color:#{i:06x}}}" for i in range(120)) + \
            "</style>"
    script = "<script>window.dataLayer=[" + ",".join(f'{{"event":"view","id":{i}}}' for i in range(150)) + \
             "];</script>"
    nav = "<nav>" + "".join(f'<a class="nav-link c{i}" href="/p/{(i * 17) % pages}">{rng.choice(_WORDS).title()}</a>'
                            for i in range(60)) + "</nav>"
    cookie = ('<div class="cookie-banner">We use cookies to improve your experience on our site. '
              '<button>Accept all</button><button>Settings</button></div>')
    sections = "".join(
        f'<section class="c{s}"><h2>{" ".join(rng.choice(_WORDS) for _ in range(3)).title()}</h2>'
        + "".join(f'<div class="text-block c{s + p}"><p>{_paragraph(rng)}</p></div>' for p in range(3))
        + "</section>" for s in range(6))
    related = "<ul class=\"related\">" + "".join(
        f'<li><a href="/p/{(index + k) % pages}">Related page {(index + k) % pages}</a></li>'
        for k in range(1, 6)) + "</ul>"
    footer = "<footer>" + "".join(f'<a href="/p/{(i * 31) % pages}">Footer link {i}</a> ' for i in range(40)) + \
             "<p>Copyright 2025 Spoke &amp; Chain. All rights reserved. Privacy policy. Terms.</p></footer>"
    html = (f"<!doctype html><html><head><title>{title} | Spoke &amp; Chain</title>{style}{script}</head><body>"
            f"<header>{nav}</header>{cookie}<main><h1>{title}</h1>{sections}{related}</main>{footer}")
    # Inline icons and tracking markup make up the rest of a real page's weight: a comment stands in.
    padding = "<!-- " + "x" * max(0, PAGE_BYTES - len(html) - 30) + " -->"
    return f"{html}{padding}</body></html>"


def path_of(index: int) -> str:
    return "/" if index == 0 else f"/p/{index}"


class GeneratedSite:
    """The site's pages as bytes, and a count of the requests it answered."""

    def __init__(self, pages: int, seed: int = 15) -> None:
        rng = random.Random(seed)
        self.pages = {path_of(i): page_html(i, pages, rng).encode() for i in range(pages)}
        self.requests = 0

    def app(self) -> web.Application:
        async def page(request: web.Request) -> web.Response:
            self.requests += 1
            body = self.pages.get(request.path)
            if body is None:
                raise web.HTTPNotFound()
            return web.Response(body=body, content_type="text/html", charset="utf-8")

        async def robots(request: web.Request) -> web.Response:
            self.requests += 1
            sitemap = request.url.with_path("/sitemap.xml").with_query(None)
            return web.Response(text=f"User-agent: *\nAllow: /\nSitemap: {sitemap}\n")

        async def sitemap(request: web.Request) -> web.Response:
            self.requests += 1
            base = request.url.with_path("/").with_query(None)
            urls = "".join(f"<url><loc>{base.join(URL(path))}</loc></url>" for path in self.pages)
            return web.Response(text=f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns='
                                     f'"http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>',
                                content_type="application/xml")

        app = web.Application()
        app.router.add_get("/robots.txt", robots)
        app.router.add_get("/sitemap.xml", sitemap)
        app.router.add_get("/{tail:.*}", page)
        return app


async def serve(site: GeneratedSite) -> AsyncIterator[TestServer]:
    """The site on 127.0.0.1 and a free port, for as long as the caller iterates."""
    server = TestServer(site.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()
