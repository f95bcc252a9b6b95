"""Campaign edits, previews, schedules and bulk sends through the API: what changes, what is refused, what is written."""

from __future__ import annotations

import datetime
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from billing import ledger
from billing.money import Currency, Money
from messaging import consent, contacts
from tests.conftest import MakeClient
from tests.messaging.conftest import Shop

Client = TestClient[web.Request, web.Application]
ANN, BO = "+14155550121", "+14155550122"


async def call(client: Client, shop: Shop, method: str, path: str, status: int, body: Any = None) -> Any:
    resp = await client.request(method, path, json=body, headers=shop.headers)
    assert resp.status == status, await resp.text()
    return None if status == 204 else await resp.json()


async def row_counts(pool: asyncpg.Pool) -> dict[str, int]:
    tables = await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE"
                              " 'job%'")
    return {t["tablename"]: await pool.fetchval(f'SELECT count(*) FROM "{t["tablename"]}"') for t in tables}


async def spring(pool: asyncpg.Pool, shop: Shop) -> list[str]:
    return [str((await contacts.create(pool, shop.business_id, contacts.NewContact(
        phone, first_name=name, tags=["spring"], attributes={"city": city}))).id)
        for phone, name, city in ((ANN, "Ann", "Oakland"), (BO, "Bo", ""))]


def later(**delta: float) -> str:
    return (datetime.datetime.now(datetime.UTC) + datetime.timedelta(**delta)).isoformat()


DRAFT = {"name": "Spring", "template": "Hi {{firstName}}!", "audience": {"tags": ["spring"]},
         "category": "transactional"}


async def test_a_draft_is_edited_field_by_field_and_a_sending_campaign_is_not(
        make_client: MakeClient, shop: Shop, pool: asyncpg.Pool) -> None:
    client = await make_client()
    ids = await spring(pool, shop)
    draft = await call(client, shop, "POST", "/api/campaigns", 201, {**DRAFT, "quietHours": "09:00-18:00"})
    path = f"/api/campaigns/{draft['id']}"
    edited = await call(client, shop, "PATCH", path, 200, {"name": "Spring sale", "quietHours": None,
                                                           "audience": {"contactIds": ids[:1]}, "aiReplies": True})
    assert {k: edited[k] for k in ("name", "template", "quietHours", "aiReplies", "status")} == {
        "name": "Spring sale", "template": "Hi {{firstName}}!", "quietHours": None, "aiReplies": True,
        "status": "draft"}
    assert (edited["audience"]["contactIds"], edited["estimate"]["recipients"]) == (ids[:1], 1)
    before = await row_counts(pool)
    typo = await call(client, shop, "PATCH", path, 422, {"template": "Hi {{frist}}", "name": "Never saved"})
    assert typo["error"]["field"] == "template"
    window = await call(client, shop, "PATCH", path, 422, {"quietHours": "25:00-26:00"})
    assert window["error"]["field"] == "quietHours"
    assert await row_counts(pool) == before
    assert (await call(client, shop, "GET", path, 200))["name"] == "Spring sale"
    await call(client, shop, "POST", f"{path}/send", 202)
    refused = await call(client, shop, "PATCH", path, 409, {"name": "Too late"})
    assert refused["error"]["code"] == "CAMPAIGN_NOT_EDITABLE"


async def test_a_preview_renders_the_first_recipients_and_writes_nothing(
        make_client: MakeClient, shop: Shop, pool: asyncpg.Pool) -> None:
    client = await make_client()
    await spring(pool, shop)
    await consent.opt_out(pool, shop.business_id, ANN, source=consent.Source.DASHBOARD)
    draft = await call(client, shop, "POST", "/api/campaigns", 201, {
        **DRAFT, "template": "Hi {{firstName}} from {{attributes.city|your town}}"})
    before = await row_counts(pool)
    preview = await call(client, shop, "POST", f"/api/campaigns/{draft['id']}/preview", 200)
    assert preview["messages"] == [{"contactId": preview["messages"][0]["contactId"], "phone": BO,
                                    "body": "Hi Bo from your town", "characters": 20, "segments": 1,
                                    "encoding": "GSM-7"}]
    assert preview["estimate"]["skipped"]["optedOut"] == 1
    emoji = await call(client, shop, "POST", f"/api/campaigns/{draft['id']}/preview", 200, {
        "template": "{{firstName}}, " + "🌸" * 40, "limit": 1})
    assert [(m["body"][:4], m["segments"], m["encoding"]) for m in emoji["messages"]] == [("Bo, ", 2, "UCS-2")]
    typo = await call(client, shop, "POST", f"/api/campaigns/{draft['id']}/preview", 422, {"template": "{{nope}}"})
    assert typo["error"]["field"] == "template"
    assert await row_counts(pool) == before
    assert (await call(client, shop, "GET", f"/api/campaigns/{draft['id']}", 200))["template"].startswith("Hi ")


async def test_a_campaign_is_scheduled_rescheduled_unscheduled_and_refused_a_bad_time(
        make_client: MakeClient, shop: Shop, pool: asyncpg.Pool) -> None:
    client = await make_client()
    await spring(pool, shop)
    at = later(hours=2)
    scheduled = await call(client, shop, "POST", "/api/campaigns", 201, {**DRAFT, "sendAt": at})
    assert (scheduled["status"], datetime.datetime.fromisoformat(scheduled["sendAt"])) == \
        ("scheduled", datetime.datetime.fromisoformat(at))
    path = f"/api/campaigns/{scheduled['id']}"
    before = await row_counts(pool)
    for bad in (later(minutes=-1), later(days=400), "next tuesday"):
        refused = await call(client, shop, "POST", f"{path}/schedule", 422, {"sendAt": bad})
        assert (refused["error"]["code"], refused["error"]["field"]) == ("VALIDATION_ERROR", "sendAt")
    empty = await call(client, shop, "PATCH", path, 422, {"audience": {"tags": ["nobody"]}})
    assert empty["error"]["code"] == "EMPTY_AUDIENCE"
    nobody = {**DRAFT, "audience": {"tags": ["nobody"]}, "sendAt": at}
    assert (await call(client, shop, "POST", "/api/campaigns", 422, nobody))["error"]["code"] == "EMPTY_AUDIENCE"
    assert await row_counts(pool) == before
    moved = await call(client, shop, "POST", f"{path}/schedule", 200, {"sendAt": later(days=1)})
    assert moved["status"] == "scheduled" and moved["sendAt"] != scheduled["sendAt"]
    assert (await call(client, shop, "PATCH", path, 200, {"sendAt": None}))["status"] == "draft"
    assert (await call(client, shop, "POST", f"{path}/schedule", 200, {"sendAt": at}))["status"] == "scheduled"
    assert (await call(client, shop, "POST", f"{path}/cancel", 200))["status"] == "canceled"
    assert (await call(client, shop, "POST", f"{path}/schedule", 409, {"sendAt": at}))["error"]["code"] == \
        "CAMPAIGN_NOT_EDITABLE"


async def test_a_bulk_send_is_a_campaign_sent_at_once_and_a_repeat_answers_it_again(
        make_client: MakeClient, shop: Shop, pool: asyncpg.Pool) -> None:
    client = await make_client()
    await spring(pool, shop)
    await consent.opt_out(pool, shop.business_id, "+14155550125", source=consent.Source.KEYWORD)
    body = {"to": ["(415) 555-0121", "+14155550124", "415.555.0125", "+14155550124"], "body": "Hi {{firstName|there}}",
            "category": "transactional", "idempotencyKey": "promo-7"}
    sent = await call(client, shop, "POST", "/api/sms/bulk", 202, body)
    assert {k: sent[k] for k in ("status", "recipients", "segments", "costMinor")} == {
        "status": "sending", "recipients": 2, "segments": 2, "costMinor": 2}
    assert sent["skipped"]["optedOut"] == 1
    rows = await pool.fetch("SELECT to_phone, body, contact_id IS NOT NULL AS known FROM sms_outbox"
                            " WHERE campaign_id = $1 ORDER BY to_phone", sent["campaignId"])
    assert [tuple(r) for r in rows] == [(ANN, "Hi Ann", True), ("+14155550124", "Hi there", False)]
    again = await call(client, shop, "POST", "/api/sms/bulk", 202, {**body, "body": "changed"})
    assert again == sent
    assert await pool.fetchval("SELECT count(*) FROM sms_outbox") == 2
    campaign = await call(client, shop, "GET", f"/api/campaigns/{sent['campaignId']}", 200)
    assert campaign["status"] == "sending"


async def test_a_bulk_send_with_bad_input_writes_nothing(make_client: MakeClient, shop: Shop,
                                                         pool: asyncpg.Pool) -> None:
    client = await make_client()
    before = await row_counts(pool)
    ok = {"to": [ANN], "body": "Hi", "category": "transactional"}
    assert (await call(client, shop, "POST", "/api/sms/bulk", 422, {**ok, "to": [ANN, "12"]}))["error"]["field"] == \
        "to"
    assert (await call(client, shop, "POST", "/api/sms/bulk", 422, {**ok, "body": "{{who}}"}))["error"]["field"] == \
        "body"
    refused = await call(client, shop, "POST", "/api/sms/bulk", 422, {**ok, "category": "marketing"})
    assert refused["error"]["code"] == "EMPTY_AUDIENCE", "a bare phone has no recorded consent"
    assert await row_counts(pool) == before
    balance = await pool.fetchval("SELECT balance FROM wallets WHERE business_id = $1", shop.business_id)
    await ledger.debit(pool, business_id=shop.business_id, amount=Money(balance, Currency.USD),
                       kind=ledger.EntryKind.ADJUSTMENT, idempotency_key="empty-it", reference="test", actor="tests")
    before = await row_counts(pool)
    assert (await call(client, shop, "POST", "/api/sms/bulk", 402, ok))["error"]["code"] == "INSUFFICIENT_BALANCE"
    assert await row_counts(pool) == before
