"""Email notifications: a member's preferences, a test email to their own address, the outbox, the contact form.

The test email goes only to the caller's own sign-in address (the route it replaces mailed
anyone). The public contact form is mailed to CONTACT_INBOX: a filled honeypot field is
answered as accepted and dropped, each IP may send 5 an hour (the shared GCRA limits), and
a line break in the name or subject is refused (it would start a new header).
"""

from __future__ import annotations

import datetime
import html
import uuid
from typing import Annotated, Literal

import msgspec
from aiohttp import web

from agent_server import auth, tenants
from agent_server.outcome_jobs import unsubscribe_secret
from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Body, Instant, Query, Uuid
from agent_server.errors import ApiError, ValidationError
from agent_server.message_limits import LIMITS_POOL
from agent_server.metrics import METRICS
from agent_server.state import POOL, SETTINGS
from agent_server.widget_access import client_ip
from conversations import rate_limits
from conversations.gcra import Limit
from mail import outbox
from mail.message import check_address, check_header
from mail.rendering import render
from outcomes import notifications, unsubscribe

OUTBOX_LIMIT = 100


class PrefsQuery(Query):
    business_id: Uuid | None = None


class PreferencesView(msgspec.Struct, rename="camel", kw_only=True):
    """What this member is emailed about for this business; `overrideAddress` replaces their own address."""

    business_id: Uuid
    conversation_started: bool
    conversation_ended: bool
    new_lead: bool
    agent_error: bool
    weekly_summary: bool
    ticket_activity: bool
    override_address: str | None


class PreferencesBody(Body):
    """Fields left out keep their current value; `overrideAddress` "" or null goes back to the own address."""

    business_id: Uuid | None = None
    conversation_started: bool | None = None
    conversation_ended: bool | None = None
    new_lead: bool | None = None
    agent_error: bool | None = None
    weekly_summary: bool | None = None
    ticket_activity: bool | None = None
    override_address: Annotated[str, msgspec.Meta(max_length=320)] | None | msgspec.UnsetType = msgspec.UNSET


class TestBody(Body):
    """`to`, when given, must be the caller's own address."""

    business_id: Uuid | None = None
    to: Annotated[str, msgspec.Meta(max_length=320)] | None = None


class Queued(msgspec.Struct, rename="camel", kw_only=True):
    """`outboxId` null: nothing was queued (a dropped submission)."""

    outbox_id: int | None
    status: str


class OutboxQuery(Query):
    business_id: Uuid | None = None
    status: Literal["queued", "sent", "failed", "held", "suppressed"] | None = None


class OutboxItem(msgspec.Struct, rename="camel", kw_only=True):
    id: int
    recipient: str
    subject: str
    template: str | None
    status: str
    attempts: int
    last_error: str | None
    created_at: Instant
    sent_at: Instant | None


class OutboxList(msgspec.Struct, rename="camel", kw_only=True):
    business_id: Uuid
    emails: list[OutboxItem]


class ContactBody(Body):
    """`website` is a honeypot: people leave it empty."""

    name: Annotated[str, msgspec.Meta(max_length=100)]
    email: Annotated[str, msgspec.Meta(max_length=320)]
    subject: Annotated[str, msgspec.Meta(max_length=200)]
    message: Annotated[str, msgspec.Meta(max_length=5000)]
    website: str | None = None


def _view(business_id: uuid.UUID, prefs: notifications.Preferences) -> PreferencesView:
    return PreferencesView(business_id=str(business_id), conversation_started=prefs.conversation_started,
                           conversation_ended=prefs.conversation_ended, new_lead=prefs.new_lead,
                           agent_error=prefs.agent_error, weekly_summary=prefs.weekly_summary,
                           ticket_activity=prefs.ticket_activity, override_address=prefs.override_address)


def _address(field: str, value: str) -> str:
    try:
        return check_address(value)
    except ValueError as exc:
        raise ValidationError(field, str(exc)) from None


async def get_preferences(request: web.Request) -> web.Response:
    query = read_query(request, PrefsQuery)
    membership = await auth.business_for(request, query.business_id)
    prefs = await notifications.preferences(request.app[POOL], membership.user_id, membership.business_id)
    return struct_response(_view(membership.business_id, prefs))


async def put_preferences(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, PreferencesBody)
    membership = await auth.business_for(request, body.business_id)
    pool = request.app[POOL]
    current = await notifications.preferences(pool, membership.user_id, membership.business_id)
    override = current.override_address if body.override_address is msgspec.UNSET else body.override_address
    prefs = notifications.Preferences(
        conversation_started=current.conversation_started if body.conversation_started is None
        else body.conversation_started,
        conversation_ended=current.conversation_ended if body.conversation_ended is None else body.conversation_ended,
        new_lead=current.new_lead if body.new_lead is None else body.new_lead,
        agent_error=current.agent_error if body.agent_error is None else body.agent_error,
        weekly_summary=current.weekly_summary if body.weekly_summary is None else body.weekly_summary,
        ticket_activity=current.ticket_activity if body.ticket_activity is None else body.ticket_activity,
        override_address=_address("overrideAddress", override) if override else None)
    saved = await notifications.save_preferences(pool, membership.user_id, membership.business_id, prefs,
                                                 now=datetime.datetime.now(datetime.UTC))
    return struct_response(_view(membership.business_id, saved))


async def send_test(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, TestBody)
    membership = await auth.business_for(request, body.business_id)
    pool = request.app[POOL]
    own = await tenants.get_user_email(pool, membership.user_id)
    if own is None:
        raise ApiError(404, "NOT_FOUND", "no such user")
    own = _address("to", own)
    if body.to is not None and _address("to", body.to).casefold() != own.casefold():
        raise ApiError(403, "RECIPIENT_NOT_ALLOWED", "the test email goes to your own address only")
    content = render("test", {"recipient_name": own.split("@", 1)[0],
                              "business_name": await notifications.business_name(pool, membership.business_id)})
    outbox_id = await outbox.enqueue(pool, content, recipient=own, business_id=membership.business_id,
                                     dedupe_key=f"test:{membership.user_id}:{uuid.uuid4()}",
                                     now=datetime.datetime.now(datetime.UTC))
    return struct_response(Queued(outbox_id=outbox_id, status="queued"), status=202)


async def list_outbox(request: web.Request) -> web.Response:
    query = read_query(request, OutboxQuery)
    membership = await auth.business_for(request, query.business_id)
    emails = await outbox.list_emails(request.app[POOL], status=query.status, limit=OUTBOX_LIMIT,
                                      business_id=membership.business_id)
    items = [OutboxItem(id=e.id, recipient=e.recipient, subject=e.subject, template=e.template, status=e.status,
                        attempts=e.attempts, last_error=e.last_error, created_at=e.created_at.isoformat(),
                        sent_at=e.sent_at.isoformat() if e.sent_at else None) for e in emails]
    return struct_response(OutboxList(business_id=str(membership.business_id), emails=items))


async def contact(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    inbox = settings.outcomes.contact_inbox
    if not inbox:
        raise ApiError(404, "CONTACT_FORM_DISABLED", "this server has no contact inbox (CONTACT_INBOX)")
    body = await read_body(request, ContactBody)
    for field, value in (("name", body.name), ("subject", body.subject)):
        try:
            check_header(field, value)
        except ValueError as exc:
            raise ValidationError(field, str(exc)) from None
    email = _address("email", body.email)
    if body.website:
        return struct_response(Queued(outbox_id=None, status="accepted"), status=202)
    ip = client_ip(request.remote, request.headers.get("X-Forwarded-For", ""), settings.messaging.forwarded_for_hops)
    per_hour = settings.outcomes.contact_per_ip_per_hour
    if not await rate_limits.allow(request.app[LIMITS_POOL], rate_limits.Scope.CONTACT_IP, ip,
                                   Limit(per_minute=per_hour / 60, burst=per_hour)):
        request.app[METRICS].rate_limited.labels(rate_limits.Scope.CONTACT_IP.value).inc()
        raise ApiError(429, "RATE_LIMITED", f"at most {per_hour} messages an hour")
    content = render("contact_form", {"name": body.name, "email": email, "subject": body.subject,
                                      "message": body.message})
    outbox_id = await outbox.enqueue(request.app[POOL], content, recipient=inbox, dedupe_key=f"contact:{uuid.uuid4()}",
                                     now=datetime.datetime.now(datetime.UTC))
    return struct_response(Queued(outbox_id=outbox_id, status="queued"), status=202)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/notifications/preferences", get_preferences,
          "What the caller is emailed about for the business", "notifications", "jwt", (Reply(200, PreferencesView),),
          errors=(403, 404), query=PrefsQuery),
    Route("PUT", "/api/notifications/preferences", put_preferences, "Change what the caller is emailed about",
          "notifications", "jwt", (Reply(200, PreferencesView),), errors=(403, 404), body=PreferencesBody),
    Route("POST", "/api/notifications/test", send_test, "Queue a test email to the caller's own address",
          "notifications", "jwt", (Reply(202, Queued),), errors=(403, 404), body=TestBody),
    Route("GET", "/api/notifications/outbox", list_outbox,
          f"The business's emails and their delivery state, newest first (at most {OUTBOX_LIMIT})", "notifications",
          "jwt", (Reply(200, OutboxList),), errors=(403, 404), query=OutboxQuery),
    Route("POST", "/api/notifications/contact", contact, "The public contact form, mailed to the contact inbox",
          "notifications", "public", (Reply(202, Queued),), errors=(404, 429), body=ContactBody),
)


class UnsubscribeQuery(Query):
    token: Annotated[str, msgspec.Meta(max_length=300)]


class Unsubscribed(msgspec.Struct, rename="camel", kw_only=True):
    event: str
    unsubscribed: bool


_PAGE = ("<!doctype html><html><body><form method=\"post\"><p>Stop these emails ({event})?</p>"
         "<button name=\"List-Unsubscribe\" value=\"One-Click\">Unsubscribe</button></form></body></html>")


def _unsubscribe_of(request: web.Request) -> unsubscribe.Unsubscribe:
    query = read_query(request, UnsubscribeQuery)
    found = unsubscribe.read(unsubscribe_secret(request.app[SETTINGS]), query.token)
    if found is None:
        raise ApiError(404, "NOT_FOUND", "no such unsubscribe link")
    return found


async def unsubscribe_page(request: web.Request) -> web.Response:
    """What the link turns off, with the button that does it (a GET changes nothing: link scanners follow it)."""
    found = _unsubscribe_of(request)
    return web.Response(text=_PAGE.format(event=html.escape(found.event.replace("_", " "))), content_type="text/html")


async def unsubscribe_now(request: web.Request) -> web.Response:
    found = _unsubscribe_of(request)
    done = await notifications.turn_off(request.app[POOL], found.user_id, found.business_id, found.event,
                                        now=datetime.datetime.now(datetime.UTC))
    if not done:
        raise ApiError(404, "NOT_FOUND", "no such unsubscribe link")
    return struct_response(Unsubscribed(event=found.event, unsubscribed=True))


UNSUBSCRIBE_ROUTES = (
    Route("GET", "/api/notifications/unsubscribe", unsubscribe_page,
          "What a one-click unsubscribe link turns off, and its button", "notifications", "public",
          (Reply(200, None, media_type="text/html"),), errors=(404,), query=UnsubscribeQuery),
    Route("POST", "/api/notifications/unsubscribe", unsubscribe_now,
          "One-click unsubscribe (RFC 8058) from one kind of email", "notifications", "public",
          (Reply(200, Unsubscribed),), errors=(404,), query=UnsubscribeQuery),
)
ROUTES = (*ROUTES, *UNSUBSCRIBE_ROUTES)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
