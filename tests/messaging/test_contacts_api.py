"""Contacts, lists and opt-outs through the API: E.164 phones, one per business, filters and cursor pages."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import MakeClient
from tests.messaging.conftest import Shop

Client = TestClient[web.Request, web.Application]


async def post(client: Client, shop: Shop, path: str, body: dict[str, Any], status: int) -> Any:
    resp = await client.post(path, json=body, headers=shop.headers)
    assert resp.status == status, await resp.text()
    return await resp.json() if resp.status != 204 else None


async def test_a_phone_is_stored_as_e164_once_per_business(make_client: MakeClient, shop: Shop) -> None:
    client = await make_client()
    created = await post(client, shop, "/api/contacts", {"phone": "(415) 555-0123", "firstName": "Ana",
                                                         "tags": ["vip", " vip "], "attributes": {"city": "Oslo"},
                                                         "consent": {"source": "web form",
                                                                     "at": "2026-01-02T03:04:05Z"}}, 201)
    assert (created["phone"], created["tags"], created["attributes"]) == ("+14155550123", ["vip"], {"city": "Oslo"})
    assert created["consent"]["source"] == "web form" and created["optedOut"] is False
    again = await post(client, shop, "/api/contacts", {"phone": "+1 415 555 0123"}, 409)
    assert again["error"]["code"] == "CONTACT_EXISTS"
    invalid = await post(client, shop, "/api/contacts", {"phone": "555-0100"}, 422)
    assert invalid["error"]["field"] == "phone"
    zone = await post(client, shop, "/api/contacts", {"phone": "+14155550124", "timezone": "Mars/Base"}, 422)
    assert zone["error"]["field"] == "timezone"


async def test_filters_and_cursor_pages(make_client: MakeClient, shop: Shop) -> None:
    client = await make_client()
    ids = []
    for i in range(5):
        made = await post(client, shop, "/api/contacts", {"phone": f"+1415555013{i}", "firstName": f"Person{i}",
                                                          "tags": ["even"] if i % 2 == 0 else []}, 201)
        ids.append(made["id"])
    listed = await post(client, shop, "/api/lists", {"name": "Newsletter"}, 201)
    assert (await post(client, shop, f"/api/lists/{listed['id']}/contacts", {"contactIds": ids[:2]}, 200)) == \
        {"added": 2}
    await post(client, shop, "/api/opt-outs", {"phone": "+14155550134", "reason": "asked by phone"}, 201)

    async def names(**params: str) -> list[str]:
        resp = await client.get("/api/contacts", params=params, headers=shop.headers)
        assert resp.status == 200, await resp.text()
        return [c["firstName"] for c in (await resp.json())["contacts"]]

    assert await names(tag="even") == ["Person4", "Person2", "Person0"]
    assert await names(search="person3") == ["Person3"]
    assert await names(listId=listed["id"]) == ["Person1", "Person0"]
    assert await names(optedOut="true") == ["Person4"]
    seen, cursor = [], None
    while True:
        resp = await client.get("/api/contacts", params={"limit": "2", **({"cursor": cursor} if cursor else {})},
                                headers=shop.headers)
        page = await resp.json()
        seen += [c["firstName"] for c in page["contacts"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [f"Person{i}" for i in reversed(range(5))]
    lists = await (await client.get("/api/lists", headers=shop.headers)).json()
    assert [(x["name"], x["size"]) for x in lists["lists"]] == [("Newsletter", 2)]
    resp = await client.delete(f"/api/lists/{listed['id']}/contacts/{ids[0]}", headers=shop.headers)
    assert resp.status == 204
    assert await names(listId=listed["id"]) == ["Person1"]


async def test_edit_and_soft_delete(make_client: MakeClient, shop: Shop, pool: asyncpg.Pool) -> None:
    client = await make_client()
    made = await post(client, shop, "/api/contacts", {"phone": "+14155550123", "firstName": "Ana"}, 201)
    resp = await client.patch(f"/api/contacts/{made['id']}", json={"lastName": "Lee", "tags": ["b", "a"]},
                              headers=shop.headers)
    assert resp.status == 200
    assert [(await resp.json())[k] for k in ("firstName", "lastName", "tags")] == ["Ana", "Lee", ["a", "b"]]
    detail = await (await client.get(f"/api/contacts/{made['id']}", headers=shop.headers)).json()
    assert detail["recentMessages"] == [] and detail["contact"]["lastName"] == "Lee"
    assert (await client.delete(f"/api/contacts/{made['id']}", headers=shop.headers)).status == 204
    assert (await client.get(f"/api/contacts/{made['id']}", headers=shop.headers)).status == 404
    assert await pool.fetchval("SELECT deleted_at IS NOT NULL FROM contacts WHERE id = $1", made["id"])
    await post(client, shop, "/api/contacts", {"phone": "+14155550123"}, 201)


async def test_an_opt_out_is_listed_and_the_dashboard_cannot_remove_it(make_client: MakeClient, shop: Shop,
                                                                        pool: asyncpg.Pool) -> None:
    client = await make_client()
    added = await post(client, shop, "/api/opt-outs", {"phone": "415-555-0123", "reason": "complaint"}, 201)
    assert [(o["phone"], o["source"], o["detail"]) for o in added["optOuts"]] == \
        [("+14155550123", "dashboard", "complaint")]
    listed = await (await client.get("/api/opt-outs", headers=shop.headers)).json()
    assert listed == added
    assert (await client.delete("/api/opt-outs", headers=shop.headers)).status == 405
    assert await pool.fetchval("SELECT count(*) FROM consent_events WHERE action = 'opt_out'") == 1
