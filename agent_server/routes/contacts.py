"""Contacts for the dashboard: create, list with filters and cursor pages, read with recent messages, edit, delete."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec
from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Link, Reply, Route, register
from agent_server.api.shapes import as_optional_uuid
from agent_server.errors import ValidationError, register_error
from agent_server.routes.contacts_shapes import (
    ContactConsent,
    ContactCreate,
    ContactDetail,
    ContactOut,
    ContactPage,
    ContactPatch,
    ContactQuery,
    RecentMessage,
)
from agent_server.routes.messaging_access import owned
from agent_server.state import POOL
from messaging import contacts, cursor, outbox
from messaging.errors import ContactExists, InvalidPhone, NotFound
from messaging.phones import to_e164
from messaging.quiet_hours import is_zone


def contact_out(c: contacts.Contact) -> ContactOut:
    consent = ContactConsent(source=c.consent_source, at=c.consent_at.isoformat()) \
        if c.consent_source and c.consent_at else None
    return ContactOut(id=str(c.id), business_id=str(c.business_id), phone=c.phone, first_name=c.first_name,
                      last_name=c.last_name, email=c.email, tags=c.tags, attributes=c.attributes,
                      timezone=c.timezone, consent=consent, opted_out=c.opted_out, created_at=c.created_at.isoformat(),
                      updated_at=c.updated_at.isoformat())


def phone_of(raw: str, country: str, field: str = "phone") -> str:
    try:
        return to_e164(raw, country, field=field)
    except InvalidPhone:
        raise ValidationError(field, "is not a valid phone number") from None


def checked_zone(zone: str | None) -> str | None:
    """A contact's zone must be an IANA name (else quiet hours would silently use the number's)."""
    if zone is not None and not is_zone(zone):
        raise ValidationError("timezone", "must be an IANA time zone such as America/New_York")
    return zone


def consent_at(consent: ContactConsent | None) -> datetime.datetime | None:
    if consent is None:
        return None
    try:
        at = datetime.datetime.fromisoformat(consent.at)
    except ValueError:
        raise ValidationError("consent", "at must be an ISO 8601 date-time") from None
    return at if at.tzinfo else at.replace(tzinfo=datetime.UTC)


async def create_contact(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, ContactCreate)
    membership = await auth.business_for(request, body.business_id)
    new = contacts.NewContact(
        phone_of(body.phone, body.default_country), first_name=body.first_name, last_name=body.last_name,
        email=body.email, tags=body.tags, attributes=body.attributes, timezone=checked_zone(body.timezone),
        consent_source=body.consent.source if body.consent else None, consent_at=consent_at(body.consent))
    created = await contacts.create(request.app[POOL], membership.business_id, new)
    return struct_response(contact_out(created), status=201)


async def list_contacts(request: web.Request) -> web.Response:
    query = read_query(request, ContactQuery)
    membership = await auth.business_for(request, query.business_id)
    filters = contacts.Filters(search=query.search, tag=query.tag, list_id=as_optional_uuid(query.list_id, "listId"),
                               opted_out=query.opted_out)
    try:
        found, next_cursor = await contacts.page(request.app[POOL], membership.business_id, filters,
                                                 limit=query.limit, after=query.cursor)
    except cursor.BadCursor:
        raise ValidationError("cursor", "is not a cursor from this server") from None
    return struct_response(ContactPage(contacts=[contact_out(c) for c in found], next_cursor=next_cursor))


async def get_contact(request: web.Request) -> web.Response:
    business_id, contact_id = await owned(request, "id", contacts.owner, "contact")
    pool = request.app[POOL]
    contact = await contacts.get(pool, business_id, contact_id)
    recent = await outbox.recent_for_contact(pool, contact_id)
    return struct_response(ContactDetail(contact=contact_out(contact), recent_messages=[
        RecentMessage(id=str(m.id), body=m.body, status=m.status, created_at=m.created_at.isoformat())
        for m in recent]))


def _changes(body: ContactPatch) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in ("first_name", "last_name", "email", "tags", "attributes"):
        value = getattr(body, name)
        if value is not msgspec.UNSET:
            changes[name] = ("" if value is None else value) if name in ("first_name", "last_name") else value
    if isinstance(body.phone, str):
        changes["phone"] = phone_of(body.phone, body.default_country)
    if body.timezone is not msgspec.UNSET:
        changes["timezone"] = checked_zone(body.timezone)
    if body.consent is not msgspec.UNSET:
        changes["consent_source"] = body.consent.source if body.consent else None
        changes["consent_at"] = consent_at(body.consent)
    return changes


async def patch_contact(request: web.Request) -> web.Response:
    business_id, contact_id = await owned(request, "id", contacts.owner, "contact")
    body = await read_body(request, ContactPatch)
    updated = await contacts.update(request.app[POOL], business_id, contact_id, _changes(body))
    return struct_response(contact_out(updated))


async def delete_contact(request: web.Request) -> web.Response:
    business_id, contact_id = await owned(request, "id", contacts.owner, "contact")
    await contacts.delete(request.app[POOL], business_id, contact_id)
    return web.Response(status=204)


_LINKS = {"GetContact": Link("get_contact", {"id": "$response.body#/id"}),
          "EditContact": Link("patch_contact", {"id": "$response.body#/id"}),
          "DeleteContact": Link("delete_contact", {"id": "$response.body#/id"})}
ROUTES = (
    Route("POST", "/api/contacts", create_contact, "Add a contact (phone stored as E.164, one per business)",
          "contacts", "jwt", (Reply(201, ContactOut, description="Created", links=_LINKS),),
          errors=(403, 404, 409, 422), body=ContactCreate),
    Route("GET", "/api/contacts", list_contacts, "The business's contacts, newest first, filtered, in cursor pages",
          "contacts", "jwt", (Reply(200, ContactPage),), errors=(403, 404, 422), query=ContactQuery),
    Route("GET", "/api/contacts/{id}", get_contact, "A contact with its recent messages", "contacts", "jwt",
          (Reply(200, ContactDetail),), errors=(404,)),
    Route("PATCH", "/api/contacts/{id}", patch_contact, "Change a contact's fields", "contacts", "jwt",
          (Reply(200, ContactOut),), errors=(404, 409, 422), body=ContactPatch),
    Route("DELETE", "/api/contacts/{id}", delete_contact, "Delete a contact (soft: its history stays)", "contacts",
          "jwt", (Reply(204, description="Deleted"),), errors=(404,)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
    register_error(ContactExists, 409, "CONTACT_EXISTS")
    register_error(NotFound, 404, "NOT_FOUND")
