"""Outbound SMS for the dashboard: send one text through the outbox, list and read messages, retry, stats."""

from __future__ import annotations

import datetime

import msgspec
from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Link, Reply, Route, register
from agent_server.api.shapes import as_optional_uuid
from agent_server.errors import ValidationError, register_error
from agent_server.routes.contacts import phone_of
from agent_server.routes.messaging_access import owned
from agent_server.routes.sms_shapes import (
    MessageDetail,
    MessageOut,
    MessagePage,
    MessagesQuery,
    SmsQueued,
    SendBody,
    SmsStats,
    StatsQuery,
    SmsStatusEvent,
)
from agent_server.state import POOL, SETTINGS
from billing.money import parse_currency
from messaging import cursor, outbox
from messaging.errors import NotRetryable, NumberNotSmsCapable, RecipientOptedOut
from messaging.segments import BodyTooLong
from messaging.sending import InsufficientBalance, NoConsent, SendRequest, queue_text


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def message_out(m: outbox.Message) -> MessageOut:
    return MessageOut(
        id=str(m.id), contact_id=str(m.contact_id) if m.contact_id else None,
        number_id=str(m.number_id) if m.number_id else None, from_number=m.from_number, to=m.to_phone, body=m.body,
        category=m.category, segments=m.segments, encoding=m.encoding, status=m.status,
        campaign_id=str(m.campaign_id) if m.campaign_id else None, not_before=m.not_before.isoformat(),
        attempts=m.attempts, message_sid=m.message_sid, error_code=m.error_code, error_message=m.error_message,
        price_minor=m.price_minor, currency=m.currency, created_at=m.created_at.isoformat())


async def send_sms(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, SendBody)
    membership = await auth.business_for(request, body.business_id)
    if (body.to is None) == (body.contact_id is None):
        raise ValidationError("to", "send either `to` or `contactId`")
    settings = request.app[SETTINGS]
    now = _now()
    send = SendRequest(membership.business_id, body.body, body.category, body.idempotency_key,
                       to_phone=phone_of(body.to, body.default_country, "to") if body.to else None,
                       contact_id=as_optional_uuid(body.contact_id, "contactId"),
                       from_number_id=as_optional_uuid(body.from_number_id, "fromNumberId"))
    try:
        queued = await queue_text(request.app[POOL], send, settings.sms, parse_currency(settings.billing.currency),
                                  now=now)
    except BodyTooLong as exc:
        raise ValidationError("body", str(exc)) from None
    m = queued.message
    return struct_response(SmsQueued(message_id=str(m.id), status=m.status, segments=m.segments, encoding=m.encoding,
                                  not_before=m.not_before.isoformat() if m.not_before > now else msgspec.UNSET),
                           status=202)


async def list_messages(request: web.Request) -> web.Response:
    query = read_query(request, MessagesQuery)
    membership = await auth.business_for(request, query.business_id)
    filters = outbox.MessageFilters(status=query.status, contact_id=as_optional_uuid(query.contact_id, "contactId"),
                                    campaign_id=as_optional_uuid(query.campaign_id, "campaignId"),
                                    to_phone=phone_of(query.to, "US", "to") if query.to else None)
    try:
        found, next_cursor = await outbox.page(request.app[POOL], membership.business_id, filters,
                                               limit=query.limit, after=query.cursor)
    except cursor.BadCursor:
        raise ValidationError("cursor", "is not a cursor from this server") from None
    return struct_response(MessagePage(messages=[message_out(m) for m in found], next_cursor=next_cursor))


async def _detail(request: web.Request, message: outbox.Message) -> web.Response:
    history = await outbox.events(request.app[POOL], message.id)
    return struct_response(MessageDetail(message=message_out(message), history=[
        SmsStatusEvent(status=s, error_code=code, source=source, at=at.isoformat())
        for s, code, source, at in history]))


async def get_message(request: web.Request) -> web.Response:
    business_id, message_id = await owned(request, "id", outbox.owner, "message")
    return await _detail(request, await outbox.get(request.app[POOL], business_id, message_id))


async def retry_message(request: web.Request) -> web.Response:
    business_id, message_id = await owned(request, "id", outbox.owner, "message")
    return await _detail(request, await outbox.retry(request.app[POOL], business_id, message_id, now=_now()))


async def sms_stats(request: web.Request) -> web.Response:
    query = read_query(request, StatsQuery)
    membership = await auth.business_for(request, query.business_id)
    counts = await outbox.stats(request.app[POOL], membership.business_id,
                                since=_now() - datetime.timedelta(days=query.days))
    return struct_response(SmsStats(days=query.days, queued=counts["queued"], sending=counts["sending"],
                                 sent=counts["sent"], delivered=counts["delivered"],
                                 undelivered=counts["undelivered"], failed=counts["failed"],
                                 canceled=counts["canceled"], segments_sent=counts["segmentsSent"],
                                 cost_minor=counts["costMinor"]))


_LINKS = {"GetMessage": Link("get_message", {"id": "$response.body#/messageId"})}
ROUTES = (
    Route("POST", "/api/sms/send", send_sms, "Queue one text (paced, quiet hours for marketing, paid per segment)",
          "sms", "jwt", (Reply(202, SmsQueued, description="Queued", links=_LINKS),),
          errors=(402, 403, 404, 409, 422), body=SendBody),
    Route("GET", "/api/sms/messages", list_messages, "Outbound texts, newest first, filtered, in cursor pages", "sms",
          "jwt", (Reply(200, MessagePage),), errors=(403, 404, 422), query=MessagesQuery),
    Route("GET", "/api/sms/messages/{id}", get_message, "A text with its status history and Twilio error", "sms",
          "jwt", (Reply(200, MessageDetail),), errors=(404,)),
    Route("POST", "/api/sms/messages/{id}/retry", retry_message, "Send a failed, undelivered or canceled text again",
          "sms", "jwt", (Reply(200, MessageDetail),), errors=(404, 409)),
    Route("GET", "/api/sms/stats", sms_stats, "Texts by status, segments sent and their cost", "sms", "jwt",
          (Reply(200, SmsStats),), errors=(403, 404), query=StatsQuery),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
    register_error(RecipientOptedOut, 409, "RECIPIENT_OPTED_OUT")
    register_error(NoConsent, 409, "NO_CONSENT")
    register_error(NumberNotSmsCapable, 422, "NUMBER_NOT_SMS_CAPABLE")
    register_error(InsufficientBalance, 402, "INSUFFICIENT_BALANCE")
    register_error(NotRetryable, 409, "NOT_RETRYABLE")
