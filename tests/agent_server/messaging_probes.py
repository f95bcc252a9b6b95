"""The messaging routes' probes for the tenant enumeration test, and the objects of B (and A) they name."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

Build = Callable[[uuid.UUID], tuple[str, dict[str, str] | None, dict[str, Any] | None]]

B_CONTACT = uuid.UUID("00000000-0000-4000-8000-00000000b001")
B_LIST = uuid.UUID("00000000-0000-4000-8000-00000000b002")
B_MESSAGE = uuid.UUID("00000000-0000-4000-8000-00000000b003")
B_IMPORT = uuid.UUID("00000000-0000-4000-8000-00000000b004")
B_CAMPAIGN = uuid.UUID("00000000-0000-4000-8000-00000000b005")
A_LIST = uuid.UUID("00000000-0000-4000-8000-00000000a002")
A_CAMPAIGN = uuid.UUID("00000000-0000-4000-8000-00000000a005")


async def seed_messaging(pool: asyncpg.Pool, a: uuid.UUID, b: uuid.UUID, b_number: uuid.UUID) -> None:
    """B's contact (in B's list), a delivered message to it, an import; A's own list (to name B's contact into)."""
    await pool.execute("INSERT INTO contacts (id, business_id, phone, first_name) VALUES ($1, $2, '+14155550142',"
                       " 'Bea')", B_CONTACT, b)
    await pool.execute("INSERT INTO contact_lists (id, business_id, name) VALUES ($1, $2, 'B list'),"
                       " ($3, $4, 'A list')", B_LIST, b, A_LIST, a)
    await pool.execute("INSERT INTO contact_list_members (list_id, contact_id) VALUES ($1, $2)", B_LIST, B_CONTACT)
    await pool.execute(
        "INSERT INTO sms_outbox (id, business_id, contact_id, number_id, from_number, to_phone, body, category,"
        " segments, encoding, status, idempotency_key) VALUES ($1, $2, $3, $4, '+14155550199', '+14155550142', 'hi',"
        " 'transactional', 1, 'GSM-7', 'delivered', 'seed')", B_MESSAGE, b, B_CONTACT, b_number)
    await pool.execute("INSERT INTO contact_imports (id, business_id, status) VALUES ($1, $2, 'done')", B_IMPORT, b)
    await pool.execute("INSERT INTO campaigns (id, business_id, name, template, audience, category) VALUES"
                       " ($1, $2, 'B sale', 'Hi', '{\"contactIds\": []}', 'transactional'), ($3, $4, 'A sale', 'Hi',"
                       " '{\"contactIds\": []}', 'transactional')", B_CAMPAIGN, b, A_CAMPAIGN, a)


def _q(path: str) -> Build:
    return lambda x: (path, {"businessId": str(x)}, None)


def _path(template: str, body: dict[str, Any] | None = None) -> Build:
    return lambda x: (template.format(id=x), None, body)


def _body(path: str, make: Callable[[str], dict[str, Any]]) -> Build:
    return lambda x: (path, None, make(str(x)))


def messaging_probes(business: uuid.UUID, number: uuid.UUID) -> dict[str, list[tuple[str, uuid.UUID, Build]]]:
    """Route -> (label, B's id, request builder), for business B's id and B's number."""
    send = {"to": "+14155550142", "body": "hi", "category": "transactional", "idempotencyKey": "probe"}
    bulk = {"to": ["+14155550142"], "body": "hi", "category": "transactional"}
    soon = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)).isoformat()
    return {
        "POST /api/contacts": [("body businessId", business, _body(
            "/api/contacts", lambda x: {"businessId": x, "phone": "+14155550143"}))],
        "GET /api/contacts": [("query businessId", business, _q("/api/contacts"))],
        "POST /api/contacts/import": [
            ("query businessId", business, _q("/api/contacts/import")),
            ("query listId", B_LIST, lambda x: ("/api/contacts/import", {"listId": str(x)}, None))],
        "GET /api/contacts/imports/{id}": [("path import", B_IMPORT, _path("/api/contacts/imports/{id}"))],
        "GET /api/contacts/imports/{id}/errors.csv": [
            ("path import", B_IMPORT, _path("/api/contacts/imports/{id}/errors.csv"))],
        "GET /api/contacts/{id}": [("path contact", B_CONTACT, _path("/api/contacts/{id}"))],
        "PATCH /api/contacts/{id}": [("path contact", B_CONTACT, _path("/api/contacts/{id}", {"firstName": "X"}))],
        "DELETE /api/contacts/{id}": [("path contact", B_CONTACT, _path("/api/contacts/{id}"))],
        "POST /api/lists": [("body businessId", business, _body("/api/lists", lambda x: {"businessId": x,
                                                                                           "name": "Mine"}))],
        "GET /api/lists": [("query businessId", business, _q("/api/lists"))],
        "POST /api/lists/{id}/contacts": [
            ("path list", B_LIST, _path("/api/lists/{id}/contacts", {"contactIds": [str(uuid.uuid4())]})),
            ("body contactIds", B_CONTACT, lambda x: (f"/api/lists/{A_LIST}/contacts", None,
                                                      {"contactIds": [str(x)]}))],
        "DELETE /api/lists/{id}/contacts/{contactId}": [
            ("path list", B_LIST, lambda x: (f"/api/lists/{x}/contacts/{B_CONTACT}", None, None)),
            ("path contact", B_CONTACT, lambda x: (f"/api/lists/{A_LIST}/contacts/{x}", None, None))],
        "POST /api/opt-outs": [("body businessId", business, _body(
            "/api/opt-outs", lambda x: {"businessId": x, "phone": "+14155550142"}))],
        "GET /api/opt-outs": [("query businessId", business, _q("/api/opt-outs"))],
        "POST /api/sms/send": [
            ("body businessId", business, _body("/api/sms/send", lambda x: {**send, "businessId": x})),
            ("body contactId", B_CONTACT, _body("/api/sms/send", lambda x: {
                **{k: v for k, v in send.items() if k != "to"}, "contactId": x})),
            ("body fromNumberId", number, _body("/api/sms/send", lambda x: {**send, "fromNumberId": x}))],
        "GET /api/sms/messages": [("query businessId", business, _q("/api/sms/messages"))],
        "GET /api/sms/messages/{id}": [("path message", B_MESSAGE, _path("/api/sms/messages/{id}"))],
        "POST /api/sms/messages/{id}/retry": [("path message", B_MESSAGE, _path("/api/sms/messages/{id}/retry"))],
        "GET /api/sms/stats": [("query businessId", business, _q("/api/sms/stats"))],
        "POST /api/campaigns": [("body businessId", business, _body("/api/campaigns", lambda x: {
            "businessId": x, "name": "Mine", "template": "Hi", "audience": {}, "category": "transactional"})),
            ("body fromNumberIds", number, _body("/api/campaigns", lambda x: {
                "name": "Mine", "template": "Hi", "audience": {}, "category": "transactional",
                "fromNumberIds": [x]}))],
        "GET /api/campaigns": [("query businessId", business, _q("/api/campaigns"))],
        **{f"{method} /api/campaigns/{{id}}{tail}": [("path campaign", B_CAMPAIGN,
                                                       _path("/api/campaigns/{id}" + tail))]
           for method, tail in (("GET", ""), ("DELETE", ""), ("POST", "/send"), ("POST", "/pause"),
                                ("POST", "/resume"), ("POST", "/cancel"), ("GET", "/stats"), ("POST", "/preview"))},
        "PATCH /api/campaigns/{id}": [
            ("path campaign", B_CAMPAIGN, _path("/api/campaigns/{id}", {"name": "Mine now"})),
            ("body fromNumberIds", number, lambda x: (f"/api/campaigns/{A_CAMPAIGN}", None,
                                                      {"fromNumberIds": [str(x)]}))],
        "POST /api/campaigns/{id}/schedule": [
            ("path campaign", B_CAMPAIGN, _path("/api/campaigns/{id}/schedule", {"sendAt": soon}))],
        "POST /api/sms/bulk": [
            ("body businessId", business, _body("/api/sms/bulk", lambda x: {**bulk, "businessId": x})),
            ("body fromNumberIds", number, _body("/api/sms/bulk", lambda x: {**bulk, "fromNumberIds": [x]}))],
    }
