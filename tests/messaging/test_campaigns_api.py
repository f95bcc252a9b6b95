"""Campaigns through the API: a draft with estimates, 422 naming an unknown variable, the lifecycle's answers."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from messaging import contacts
from tests.conftest import MakeClient
from tests.messaging.conftest import Shop

Client = TestClient[web.Request, web.Application]


async def call(client: Client, shop: Shop, method: str, path: str, status: int, body: Any = None) -> Any:
    resp = await client.request(method, path, json=body, headers=shop.headers)
    assert resp.status == status, await resp.text()
    return None if status == 204 else await resp.json()


async def test_a_campaign_from_draft_to_canceled(make_client: MakeClient, shop: Shop, pool: asyncpg.Pool) -> None:
    client = await make_client()
    ids = [str((await contacts.create(pool, shop.business_id, contacts.NewContact(phone, first_name=name,
                                                                                  tags=["spring"]))).id)
           for phone, name in (("+14155550121", "Ann"), ("+14155550122", "Bo"))]
    typo = await call(client, shop, "POST", "/api/campaigns", 422, {
        "name": "Spring", "template": "Hi {{frist}}", "audience": {"tags": ["spring"]}, "category": "transactional"})
    assert (typo["error"]["field"], "frist" in typo["error"]["message"]) == ("template", True)
    draft = await call(client, shop, "POST", "/api/campaigns", 201, {
        "name": "Spring", "template": "Hi {{firstName}}, spring sale!", "audience": {"tags": ["spring"]},
        "category": "transactional"})
    assert (draft["status"], draft["estimate"]["recipients"], draft["estimate"]["segments"]) == ("draft", 2, 2)
    marketing = await call(client, shop, "POST", "/api/campaigns", 201, {
        "name": "No consent", "template": "Hi", "audience": {"contactIds": ids}, "category": "marketing"})
    assert marketing["estimate"]["skipped"]["noConsent"] == 2
    empty = await call(client, shop, "POST", f"/api/campaigns/{marketing['id']}/send", 422)
    assert empty["error"]["code"] == "EMPTY_AUDIENCE"
    await call(client, shop, "DELETE", f"/api/campaigns/{marketing['id']}", 204)
    sending = await call(client, shop, "POST", f"/api/campaigns/{draft['id']}/send", 202)
    assert sending["status"] == "sending"
    again = await call(client, shop, "POST", f"/api/campaigns/{draft['id']}/send", 409)
    assert again["error"]["code"] == "CAMPAIGN_NOT_EDITABLE"
    await call(client, shop, "DELETE", f"/api/campaigns/{draft['id']}", 409)
    assert (await call(client, shop, "POST", f"/api/campaigns/{draft['id']}/pause", 200))["status"] == "paused"
    assert (await call(client, shop, "POST", f"/api/campaigns/{draft['id']}/resume", 200))["status"] == "sending"
    assert (await call(client, shop, "POST", f"/api/campaigns/{draft['id']}/cancel", 200))["status"] == "canceled"
    stats = await call(client, shop, "GET", f"/api/campaigns/{draft['id']}/stats", 200)
    assert stats["messages"] == {"canceled": 2}, "no Twilio here: both were still queued"
    listed = await call(client, shop, "GET", "/api/campaigns", 200)
    assert [c["name"] for c in listed["campaigns"]] == ["Spring"]
