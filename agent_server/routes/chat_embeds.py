"""The agent's chat outside the bubble: inline in a page's element, and on a hosted page of its own.

`GET /api/chat/inline/{chatbotId}.js` is the widget script in its inline mode (it reads the
mode from its own URL and renders into its tag's `data-target`), under the same Origin rules
as the widget. `GET /m/{chatbotId}` is a page on this server with the agent's name and
greeting that opens the widget (`?autoOpen=1` opens its panel unclicked); it exists only while
the widget channel's `messengerEnabled` is on, is never indexed, and its Content-Security-Policy
allows scripts and connections to this host only. Values are autoescaped by Jinja2.

Both carry `ETag: "v{version}.{digest}"`, the agent's version and a digest of the file they are
built from (a deploy that changes the script must not be answered 304), and `max-age=300`.
The POST aliases are the dashboard's older names for the widget's message route.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from agent_server import agents
from agent_server.api.decoding import read_body, read_query
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Query, Uuid, as_uuid
from agent_server.errors import NotFound
from agent_server.routes.widget import STATIC, answer_message, post_message, public_agent
from agent_server.routes.widget_shapes import ORIGIN, WidgetMessage, WidgetReply
from agent_server.state import POOL, SETTINGS

_CACHE = "public, max-age=300"
_ERRORS = (403, 404)


class InlineMessage(WidgetMessage, kw_only=True):
    """The widget's message with the chatbot named in the body (`POST /api/chat/inline`)."""

    chatbot_id: Uuid


class HostedQuery(Query):
    auto_open: str | None = None


@lru_cache(maxsize=4)
def _file(name: str) -> tuple[str, str]:
    """A static file's text and a short digest of it (read once per process)."""
    text = (STATIC / name).read_text()
    return text, hashlib.sha256(text.encode()).hexdigest()[:12]


_PAGE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def _etag(agent: agents.Agent, digest: str) -> str:
    return f'"v{agent.version}.{digest}"'


def _cached(request: web.Request, etag: str) -> web.Response | None:
    """A 304 when the client holds this version."""
    if etag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}:
        return web.Response(status=304, headers={"ETag": etag, "Cache-Control": _CACHE})
    return None


async def inline_script(request: web.Request) -> web.StreamResponse:
    """GET /api/chat/inline/{chatbotId}.js: the chat rendered inside the tag's `data-target` element."""
    agent = await public_agent(request)
    text, digest = _file("widget.js")
    etag = _etag(agent, digest)
    return _cached(request, etag) or web.Response(
        text=text, content_type="application/javascript", headers={"ETag": etag, "Cache-Control": _CACHE})


def _csp(public_url: str) -> str:
    parts = urlsplit(public_url)
    sockets = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    return ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"connect-src 'self' {sockets}; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


async def hosted_page(request: web.Request) -> web.StreamResponse:
    """GET /m/{chatbotId}: the agent's own chat page; 404 unless its widget channel's messengerEnabled is on."""
    agent = await public_agent(request)
    widget = agents.effective(agent).widget
    if not widget.messenger_enabled:
        raise NotFound("no such chatbot")
    template, digest = _file("messenger.html")
    etag = _etag(agent, digest)
    public_url = request.app[SETTINGS].server.public_url
    headers = {"ETag": etag, "Cache-Control": _CACHE, "X-Robots-Tag": "noindex, nofollow",
               "Content-Security-Policy": _csp(public_url), "Referrer-Policy": "no-referrer",
               "X-Content-Type-Options": "nosniff"}
    cached = _cached(request, etag)
    if cached is not None:
        return cached
    page = _PAGE.from_string(template).render(
        name=agent.name, greeting=widget.greeting, script_path=f"/api/widget/{agent.id}/script.js",
        auto_open=read_query(request, HostedQuery).auto_open == "1")
    return web.Response(text=page, content_type="text/html", headers=headers)


async def messenger_message(request: web.Request) -> web.StreamResponse:
    """POST /api/chat/messenger/{chatbotId}: the widget's message route under the dashboard's older name."""
    return await post_message(request)


async def inline_message(request: web.Request) -> web.StreamResponse:
    """POST /api/chat/inline: the widget's message route with the chatbot named in the body."""
    body = await read_body(request, InlineMessage)
    agent = await agents.get_agent(request.app[POOL], as_uuid(body.chatbot_id, "chatbotId"))
    if agent is None or not agent.active:
        raise NotFound("no such chatbot")
    return await answer_message(request, agent, InlineMessage)


_JS = (Reply(200, media_type="application/javascript", description="JavaScript"),
       Reply(304, description="Not modified (If-None-Match)"))
ROUTES = (
    Route("GET", "/api/chat/inline/{chatbotId}.js", inline_script, "The chat rendered inside a page's element",
          "widget", "public", _JS, errors=(404,)),
    Route("GET", "/m/{chatbotId}", hosted_page, "The agent's hosted chat page", "widget", "public",
          (Reply(200, media_type="text/html", description="HTML"), Reply(304, description="Not modified")),
          errors=(404,), query=HostedQuery),
    Route("POST", "/api/chat/inline", inline_message, "Alias of the widget's message route, chatbot in the body",
          "widget", "public", (Reply(200, WidgetReply),), errors=(*_ERRORS, 402, 413, 429, 503),
          body=InlineMessage, headers=(ORIGIN,)),
    Route("POST", "/api/chat/messenger/{chatbotId}", messenger_message, "Alias of the widget's message route",
          "widget", "public", (Reply(200, WidgetReply),), errors=(*_ERRORS, 402, 413, 429, 503),
          body=WidgetMessage, headers=(ORIGIN,)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
