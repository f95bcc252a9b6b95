"""`POST /api/sms/status`: Twilio's delivery callbacks for outbox texts; and the outbox dispatcher of this process.

The callback is signed like every Twilio webhook (a forged one is 403 and writes nothing) and
names our message in `?m=`, so it applies even when it overtakes the send's own answer.
Twilio retries a callback that is not answered 2xx, so a callback we can't use (unknown id,
another sid, a status not ahead) is still answered 204, and changes nothing.

The dispatcher and the callbacks use a pool of their own whose connections skip asyncpg's
reset query on release: their statements leave nothing on a session, and the reset was a
round trip on every use, a third of a callback's (bench/sms.py). It also keeps a burst of
texts from taking the connections calls and money need.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress

import asyncpg
import structlog
from aiohttp import web

from agent_server.api.decoding import read_query
from agent_server.api.route import Reply, Route, register
from agent_server.routes.sms_shapes import SmsStatusCallbackForm, SmsStatusCallbackQuery
from agent_server.routes.twilio_shapes import SIGNATURE
from agent_server.state import CARRIER, DSN, SETTINGS
from agent_server.twilio_signature import verified_form
from billing.money import parse_currency
from messaging import delivery
from messaging.dispatcher import Dispatcher
from storage.pool import create_pool

log = structlog.get_logger(__name__)
STATUS_PATH = "/api/sms/status"
SMS_POOL = web.AppKey("sms_pool", asyncpg.Pool)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def sms_status(request: web.Request) -> web.Response:
    form = await verified_form(request)
    query = read_query(request, SmsStatusCallbackQuery)
    error = form.get("ErrorCode", "")
    if query.m is None:
        return web.Response(status=204)
    try:
        message_id = uuid.UUID(query.m)
    except ValueError:
        return web.Response(status=204)
    settings = request.app[SETTINGS]
    changed = await delivery.apply(
        request.app[SMS_POOL], delivery.Callback(message_id, form.get("MessageSid", ""), form.get("MessageStatus", ""),
                                             int(error) if error.isdigit() else None),
        price_per_segment=settings.sms.price_per_segment_minor, currency=parse_currency(settings.billing.currency),
        now=_now())
    log.info("sms_status", message_id=str(message_id), status=form.get("MessageStatus", ""), changed=changed)
    return web.Response(status=204)


async def _dispatcher(app: web.Application) -> AsyncIterator[None]:
    """The SMS pool, and this process's share of the outbox while Twilio is configured (else texts wait)."""
    settings = app[SETTINGS]
    carrier = app[CARRIER]
    app[SMS_POOL] = await create_pool(app[DSN], settings.database, keep_sessions=True)
    task = None
    if carrier is not None and settings.sms.dispatcher_in_process:
        dispatcher = Dispatcher(app[SMS_POOL], carrier, settings.sms, parse_currency(settings.billing.currency),
                                status_callback_base=settings.server.public_url + STATUS_PATH, clock=_now,
                                costs=settings.provider_costs)
        task = asyncio.create_task(dispatcher.run(), name="sms-dispatcher")
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await app[SMS_POOL].close()


ROUTES = (
    Route("POST", STATUS_PATH, sms_status, "Twilio's delivery status callback for an outbox text", "twilio",
          "twilio", (Reply(204, description="Taken (applied, or nothing to change)"),), errors=(403,),
          body=SmsStatusCallbackForm, body_media_type="application/x-www-form-urlencoded", query=SmsStatusCallbackQuery,
          headers=(SIGNATURE,)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
    app.cleanup_ctx.append(_dispatcher)
