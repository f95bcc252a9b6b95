"""The aiohttp application: middlewares, lifecycle (pool, HTTP session, shutdown) and routes."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import structlog
from aiohttp import web

from agent_server import (
    call_control,
    call_token_caps,
    cors,
    customer_auth,
    job_runner,
    jobs,
    message_limits,
    metering,
    metrics,
    outcome_jobs,
    token_pool,
)
from agent_server.api import routes_table
from agent_server.config import Settings
from agent_server.db import database_url
from agent_server.errors import error_middleware
from agent_server import url_resolver
from agent_server.routes import (
    action_execute,
    actions,
    agent_versions,
    agents,
    call_hangup,
    call_recordings,
    chat_embeds,
    web_voice,
    calls,
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
    usage,
    wallet,
    webhooks,
    widget,
)
from agent_server.services import services
from agent_server.state import DSN, HTTP, LIFECYCLE, LIVE_CALLS, POOL, SETTINGS, SOCKETS, Lifecycle
from media.pipeline.lifecycle import EndReason
from storage.pool import create_pool

log = structlog.get_logger(__name__)

# Each area's routes (and its background tasks) are added by its module's `setup`.
ROUTE_SETUPS: tuple[Callable[[web.Application], None], ...] = (
    health.setup,
    me.setup,
    agents.setup, channel_aliases.setup, provider_checks.setup,
    agent_versions.setup, token_settings.setup,
    wallet.setup, payment_checkout.setup, payment_webhook.setup,
    twilio_voice.setup, twilio_media.setup, web_voice.setup, calls.setup, call_recordings.setup,
    numbers.setup,
    message_limits.setup, token_pool.setup, twilio_sms.setup, widget.setup, chat_embeds.setup, chatbot.setup,
    usage.setup, token_usage.setup, jobs.setup, job_runner.setup, job_list.setup,
    metering.setup, call_token_caps.setup, call_control.setup, call_hangup.setup, metrics.setup,
    outcome_jobs.setup, conversation_outcomes.setup, leads.setup, notifications.setup, knowledge.setup,
    contacts.setup, contact_imports.setup, contact_lists.setup, opt_outs.setup, sms.setup, sms_status.setup,
    campaigns.setup, tickets.setup, portal_tickets.setup,
    customers.setup, customer_portal.setup, customer_portal_reads.setup, customer_summaries.setup,
    url_resolver.setup,
    webhooks.setup,
    forms.setup,
    form_submit.setup,
    actions.setup,
    action_execute.setup,
    routes_table.setup,
)

# After the drain bound, calls still live get this long to say goodbye before sockets close.
FINAL_GOODBYE_SECONDS = 5.0

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@web.middleware
async def request_context(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Bind a request id to every log line of this request and log one line when it ends."""
    structlog.contextvars.clear_contextvars()
    incoming = request.headers.get("X-Request-ID", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers["X-Request-ID"] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        log.info("request", method=request.method, path=request.path, status=status,
                 duration_ms=round((time.perf_counter() - started) * 1000, 2))
        request.app[metrics.METRICS].http_responses.labels(request.method, str(status)).inc()


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[DSN] = database_url(settings.database)
    app[POOL] = await create_pool(app[DSN], settings.database)
    # No connection cap: every live call holds an STT websocket on this session (the default cap of 100
    # made TTS requests queue behind them).
    app[HTTP] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=5),
                                      connector=aiohttp.TCPConnector(limit=0))
    try:
        yield
    finally:
        await app[HTTP].close()
        await app[POOL].close()


async def drain(app: web.Application) -> None:
    """On SIGTERM: stop taking work, let live calls finish (bounded), then close every socket with 1001.

    Readiness turns 503 and new streams and widget sockets are refused at once, so a load
    balancer moves new work elsewhere; calls in progress get `call_drain_seconds` to end on
    their own, then are told to say goodbye; widget clients reconnect (with their
    conversation id) to another process when their socket closes. `serve` runs this before
    aiohttp's shutdown, while connections are still read (`agent_server/serving.py`); as an
    `on_shutdown` hook it only closes what is left, or drains an app stopped another way.
    """
    lifecycle = app[LIFECYCLE]
    if not lifecycle.draining:
        lifecycle.draining = True
        await _let_calls_end(app)
    sockets = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server shutdown")


async def _let_calls_end(app: web.Application) -> None:
    settings = app[SETTINGS].server
    live = app.get(LIVE_CALLS)
    if live is None or not len(live):
        return
    log.info("draining_calls", calls=len(live), bound_seconds=settings.call_drain_seconds)
    deadline = time.monotonic() + settings.call_drain_seconds
    while len(live) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for call in live:
        call.request_end(EndReason.SHUTDOWN, goodbye=app[SETTINGS].calls.goodbye_text)
    deadline = time.monotonic() + FINAL_GOODBYE_SECONDS
    while len(live) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


def make_app(settings: Settings) -> web.Application:
    # CORS sits outside the error middleware, so the dashboard can read error answers too.
    cors_layer = cors.middlewares(settings.server.cors_origins, routes_table.ROUTES)
    app = web.Application(middlewares=[request_context, *cors_layer, error_middleware,
                                       customer_auth.refuse_customer_tokens],
                          client_max_size=settings.server.max_body_bytes)
    app[SETTINGS] = settings
    app[SOCKETS] = weakref.WeakSet()
    app[LIFECYCLE] = Lifecycle()
    app[metrics.METRICS] = metrics.Metrics()
    app.cleanup_ctx.append(_resources)
    app.cleanup_ctx.append(services)
    app.on_shutdown.append(drain)
    for setup in ROUTE_SETUPS:
        setup(app)
    return app
