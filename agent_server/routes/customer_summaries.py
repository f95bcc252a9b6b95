"""A customer's weekly-summary unsubscribe link (customers/weekly_summary.py): a page, and the POST that clears it.

A GET shows what the link turns off with a button and changes nothing: mail scanners and link
previews fetch GETs. The button (a form POST) and a mail client's RFC 8058 one-click POST clear
the customer's `weekly_summary_enabled`. A token this server did not sign, or whose customer is
gone, is a 404.
"""

from __future__ import annotations

import datetime
from typing import Annotated

import msgspec
from aiohttp import web

from agent_server.api.decoding import read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Query
from agent_server.customer_jobs import summary_links
from agent_server.errors import ApiError
from agent_server.state import POOL, SETTINGS
from customers import weekly_summary


class SummaryUnsubscribeQuery(Query):
    token: Annotated[str, msgspec.Meta(max_length=300)]


class SummaryUnsubscribed(msgspec.Struct, rename="camel", kw_only=True):
    weekly_summary_enabled: bool


_PAGE = ("<!doctype html><html><body><form method=\"post\"><p>Stop the weekly summary emails?</p>"
         "<button name=\"List-Unsubscribe\" value=\"One-Click\">Unsubscribe</button></form></body></html>")


def _subscriber(request: web.Request) -> weekly_summary.Subscriber:
    query = read_query(request, SummaryUnsubscribeQuery)
    found = weekly_summary.read(summary_links(request.app[SETTINGS]).secret, query.token)
    if found is None:
        raise ApiError(404, "NOT_FOUND", "no such unsubscribe link")
    return found


async def summary_unsubscribe_page(request: web.Request) -> web.Response:
    _subscriber(request)
    return web.Response(text=_PAGE, content_type="text/html")


async def summary_unsubscribe_now(request: web.Request) -> web.Response:
    found = _subscriber(request)
    if not await weekly_summary.turn_off(request.app[POOL], found, now=datetime.datetime.now(datetime.UTC)):
        raise ApiError(404, "NOT_FOUND", "no such unsubscribe link")
    return struct_response(SummaryUnsubscribed(weekly_summary_enabled=False))


ROUTES: tuple[Route, ...] = (
    Route("GET", weekly_summary.UNSUBSCRIBE_PATH, summary_unsubscribe_page,
          "What a customer's weekly-summary unsubscribe link turns off, and its button", "customers", "public",
          (Reply(200, None, media_type="text/html"),), errors=(404,), query=SummaryUnsubscribeQuery),
    Route("POST", weekly_summary.UNSUBSCRIBE_PATH, summary_unsubscribe_now,
          "One-click unsubscribe (RFC 8058) of a customer from the weekly summary", "customers", "public",
          (Reply(200, SummaryUnsubscribed),), errors=(404,), query=SummaryUnsubscribeQuery),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
