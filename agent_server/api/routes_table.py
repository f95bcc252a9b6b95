"""The route table: every route of the app, and `GET /api/openapi.json`, the document generated from it.

`ROUTES` is the one list of what the app serves, with each route's auth kind (`jwt`, `public`,
`twilio`, `stripe`; the non-jwt ones give `.public_reason`). Each area's `setup` registers its
own part of it, so the router and this list cannot drift apart; a test checks that they match.
"""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec
from aiohttp import web

from agent_server import metrics
from agent_server.api.openapi import document
from agent_server.api.route import Reply, Route, register
from agent_server.routes import (
    action_execute,
    actions,
    agent_versions,
    agents,
    call_hangup,
    call_recordings,
    calls,
    chat_embeds,
    campaigns,
    channel_aliases,
    chatbot,
    contact_imports,
    contact_lists,
    contacts,
    conversation_outcomes,
    form_submit,
    forms,
    customer_portal,
    customer_portal_reads,
    customer_summaries,
    customers,
    health,
    job_list,
    knowledge,
    leads,
    notifications,
    me,
    numbers,
    opt_outs,
    payment_checkout,
    payment_webhook,
    provider_checks,
    portal_tickets,
    sms,
    sms_status,
    tickets,
    token_settings,
    token_usage,
    twilio_media,
    twilio_sms,
    twilio_voice,
    web_voice,
    usage,
    wallet,
    webhooks,
    widget,
)
from agent_server.state import SETTINGS

OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this server (built once at startup)."""
    return web.Response(body=request.app[OPENAPI_DOCUMENT], content_type="application/json")


class OpenApiDocument(msgspec.Struct):
    """An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0)."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


_OWN = (Route("GET", "/api/openapi.json", openapi_json, "This API's OpenAPI 3.1 document", "operations", "public",
              (Reply(200, OpenApiDocument),)),)

ROUTES: tuple[Route, ...] = (
    *health.ROUTES, *_OWN, *metrics.ROUTES, *me.ROUTES, *agents.ROUTES, *channel_aliases.ROUTES, *provider_checks.ROUTES, *agent_versions.ROUTES,
    *token_settings.ROUTES, *wallet.ROUTES,
    *payment_checkout.ROUTES,
    *payment_webhook.ROUTES, *twilio_voice.ROUTES, *twilio_media.ROUTES, *web_voice.ROUTES,
    *calls.ROUTES, *call_recordings.ROUTES, *call_hangup.ROUTES,
    *numbers.ROUTES, *twilio_sms.ROUTES, *widget.ROUTES, *chat_embeds.ROUTES, *chatbot.ROUTES, *usage.ROUTES, *token_usage.ROUTES,
    *job_list.ROUTES, *conversation_outcomes.ROUTES, *leads.ROUTES, *notifications.ROUTES, *knowledge.ROUTES,
    *customers.ROUTES, *customer_portal.ROUTES, *customer_portal_reads.ROUTES, *customer_summaries.ROUTES, *tickets.ROUTES, *portal_tickets.ROUTES,
    *contacts.ROUTES, *contact_imports.ROUTES, *contact_lists.ROUTES, *opt_outs.ROUTES, *sms.ROUTES, *sms_status.ROUTES,
    *campaigns.ROUTES, *webhooks.ROUTES,
    *forms.ROUTES,
    *form_submit.ROUTES,
    *actions.ROUTES,
    *action_execute.ROUTES,
)


def _version() -> str:
    try:
        return version("agent-server")
    except PackageNotFoundError:
        return "0"


def openapi_document(server_url: str) -> dict[str, Any]:
    """The document for a server reachable at `server_url`."""
    return document(ROUTES, server_url=server_url, version=_version())


@functools.cache
def _encoded_document(server_url: str) -> bytes:
    """The served bytes, built once per process and URL: the route table is fixed at import, and
    building the document walks every route's declared shapes (about 100 ms of CPU per app)."""
    return msgspec.json.encode(openapi_document(server_url))


def setup(app: web.Application) -> None:
    app[OPENAPI_DOCUMENT] = _encoded_document(app[SETTINGS].server.public_url)
    register(app, _OWN)
