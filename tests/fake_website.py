"""A small business website on 127.0.0.1 for the crawler: robots.txt, sitemaps, boilerplate and every trap.

It speaks plain HTTP the way real sites do: ETags answered with 304, a sitemap index naming a
gzipped sitemap, a canonical duplicate, a redirect chain and a redirect loop, a 404, a page
too large, a page too slow, a PDF and a directory robots.txt disallows. Every request is in
`access_log`, so a test can show what was never asked for. `pages` may be edited while it runs.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import TestServer

TOPICS = [
    ("opening-hours", "Opening hours", "We are open Monday to Friday from 9 am to 6 pm and on Saturdays from 10 am "
                                       "to 2 pm. The workshop is closed on Sundays and public holidays."),
    ("pricing", "Pricing", "A standard bicycle service costs 49 euros and includes brake adjustment, gear tuning "
                           "and a safety check. A full overhaul costs 129 euros."),
    ("returns", "Returns policy", "Unused items can be returned within 30 days with the receipt for a full refund. "
                                  "Custom wheels built to order cannot be returned."),
    ("delivery", "Delivery", "We deliver bicycles within the city for a flat fee of 15 euros, usually within two "
                             "working days. Parcels ship nationwide with tracking."),
    ("warranty", "Warranty", "Every new frame carries a five year warranty against manufacturing defects. "
                             "Components are covered for two years."),
    ("rentals", "Bike rentals", "City bikes rent for 20 euros a day and electric bikes for 35 euros a day, helmet "
                                "and lock included. A passport or identity card is required as deposit."),
]
# Filler pages so the site has ~30 linked pages.
FILLER = [(f"news/post-{i}", f"Workshop news {i}", f"Post number {i} about our spoke tension method number {i} "
                                                    f"and the trueing stand model {i}.") for i in range(1, 21)]
CRAWL_DELAY = 0.005
# A chain ending on a page, and a loop.
REDIRECTS = {"/old-hours": ("/older-hours", 301), "/older-hours": ("/opening-hours", 302),
             "/loop-a": ("/loop-b", 302), "/loop-b": ("/loop-a", 302)}
SLOW_SECONDS = 3.0


def page_html(title: str, body: str, *, canonical: str | None = None, links: list[str] | None = None) -> str:
    nav = "".join(f'<a href="/{slug}">{t}</a>' for slug, t, _ in TOPICS)
    extra = "".join(f'<a href="{href}">more</a> ' for href in links or [])
    canon = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    paragraph = " ".join([body] * 3)
    return (f"<html><head><title>{title} | Spoke & Chain</title>{canon}</head><body>"
            f"<nav>{nav}</nav><div class=\"cookie-banner\">We use cookies to improve your experience. Accept all</div>"
            f"<main><h1>{title}</h1><p>{paragraph}</p><h2>More about {title.lower()}</h2><p>{body}</p>"
            f"<p>{extra}</p></main>"
            f"<footer>Copyright 2025 Spoke &amp; Chain. All rights reserved. Privacy policy.</footer></body></html>")


def _redirect(location: str, status: int) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": location})
    return redirect


class FakeWebsite:
    """The site's content and its access log."""

    def __init__(self) -> None:
        self.access_log: list[str] = []
        self.crawl_delay = CRAWL_DELAY
        # False: robots.txt names no sitemap and /sitemap*.xml answer 404, as on many small sites.
        self.has_sitemap = True
        home_links = [f"/{slug}" for slug, _, _ in FILLER] + [
            "/about-us", "/old-hours", "/loop-a", "/missing", "/huge", "/slow", "/brochure.pdf",
            "/private/staff", "/opening-hours?utm_source=newsletter#top", "/notes.txt"]
        self.pages: dict[str, str] = {
            "/": page_html("Spoke & Chain bicycle workshop", "Spoke and Chain repairs, sells and rents bicycles "
                           "in the old town since 1998.", links=home_links),
            "/about": page_html("About us", "Spoke and Chain is a family bicycle workshop founded by Maria and "
                                "Jonas Berg. Twelve mechanics work here."),
            "/about-us": page_html("About us", "Spoke and Chain is a family bicycle workshop founded by Maria and "
                                   "Jonas Berg. Twelve mechanics work here.", canonical="/about"),
            "/private/staff": page_html("Staff rota", "The secret staff rota."),
        }
        for slug, title, body in TOPICS + FILLER:
            self.pages[f"/{slug}"] = page_html(title, body)
        self.text_pages = {"/notes.txt": "Workshop notes\n\nTyre pressure for city bikes is 4 bar. "
                                         "Tubeless setups are sealed with latex every six months. " * 3}

    def allowed_paths(self) -> set[str]:
        """Paths the crawler should index: every page but the disallowed, duplicate and trap ones."""
        return {p for p in self.pages if not p.startswith("/private/") and p != "/about-us"} | set(self.text_pages)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._log])
        app.router.add_get("/robots.txt", self._robots)
        app.router.add_get("/sitemap_index.xml", self._sitemap_index)
        app.router.add_get("/sitemap-pages.xml.gz", self._sitemap)
        for path, (target, status) in REDIRECTS.items():
            app.router.add_get(path, _redirect(target, status))
        app.router.add_get("/huge", self._huge)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/brochure.pdf", self._pdf)
        app.router.add_get("/{path:.*}", self._page)
        return app

    @web.middleware
    async def _log(self, request: web.Request,
                   handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        self.access_log.append(request.path_qs)
        return await handler(request)

    async def _robots(self, request: web.Request) -> web.Response:
        base = f"http://{request.host}"
        sitemap = f"Sitemap: {base}/sitemap_index.xml\n" if self.has_sitemap else ""
        return web.Response(text=f"User-agent: *\nDisallow: /private/\nCrawl-delay: {self.crawl_delay}\n\n{sitemap}")

    async def _sitemap_index(self, request: web.Request) -> web.Response:
        if not self.has_sitemap:
            return web.Response(status=404, text="not found")
        base = f"http://{request.host}"
        return web.Response(content_type="application/xml", text=(
            '<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{base}/sitemap-pages.xml.gz</loc></sitemap></sitemapindex>"))

    async def _sitemap(self, request: web.Request) -> web.Response:
        if not self.has_sitemap:
            return web.Response(status=404, text="not found")
        base = f"http://{request.host}"
        locs = "".join(f"<url><loc>{base}{p}</loc></url>" for p in ("/about", "/pricing", "/private/staff"))
        xml = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>'
        return web.Response(body=gzip.compress(xml.encode()), content_type="application/x-gzip")

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        chunk = b"<p>" + b"x" * 65_530 + b"</p>"
        try:
            for _ in range(48):  # 3 MB, no Content-Length: only streaming can tell
                await response.write(chunk)
        except ConnectionResetError:
            pass
        return response

    async def _slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(SLOW_SECONDS)
        return web.Response(text=page_html("Slow", "Too slow to wait for."), content_type="text/html")

    async def _pdf(self, request: web.Request) -> web.Response:
        return web.Response(body=b"%PDF-1.4 fake", content_type="application/pdf")

    async def _page(self, request: web.Request) -> web.Response:
        path = request.path
        if path in self.text_pages:
            return self._conditional(request, self.text_pages[path], "text/plain")
        if path not in self.pages:
            return web.Response(status=404, text="not found")
        return self._conditional(request, self.pages[path], "text/html")

    @staticmethod
    def _conditional(request: web.Request, text: str, content_type: str) -> web.Response:
        etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(text=text, content_type=content_type, headers={"ETag": etag})


async def serve(site: FakeWebsite) -> AsyncIterator[TestServer]:
    server = TestServer(site.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()
