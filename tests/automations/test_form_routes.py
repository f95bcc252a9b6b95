"""Forms from the dashboard: create, list, read, edit, delete; limits, names, webhook URLs through the guard."""

from __future__ import annotations

import asyncpg

from agent_server import agents
from tests.automations.conftest import Client, Shop, cake_form
from tests.conftest import MakeBusiness


async def _create(client: Client, shop: Shop, **overrides: object) -> dict[str, object]:
    resp = await client.post(f"/api/agents/{shop.agent_id}/forms", json=cake_form(**overrides), headers=shop.headers)
    assert resp.status == 201, await resp.text()
    body: dict[str, object] = await resp.json()
    return body


async def test_a_form_is_created_read_listed_edited_and_deleted(client: Client, shop: Shop) -> None:
    form = await _create(client, shop)
    assert (form["name"], form["toolName"], form["isActive"]) == ("Cake order", "form_cake_order", True)
    assert form["fields"] == [  # every field comes back with all its keys
        {"id": "name", "label": "Your name", "type": "text", "required": True, "options": [], "min": None,
         "max": None, "maxLength": None},
        {"id": "email", "label": "Email", "type": "email", "required": True, "options": [], "min": None,
         "max": None, "maxLength": None},
        {"id": "phone", "label": "Phone", "type": "phone", "required": False, "options": [], "min": None,
         "max": None, "maxLength": None},
        {"id": "size", "label": "Size", "type": "select", "required": False, "options": ["small", "large"],
         "min": None, "max": None, "maxLength": None}]
    read = await client.get(f"/api/forms/{form['id']}", headers=shop.headers)
    assert read.status == 200 and (await read.json())["triggerKeywords"] == ["order a cake", "quote"]
    listed = await client.get(f"/api/agents/{shop.agent_id}/forms", headers=shop.headers)
    assert [f["id"] for f in (await listed.json())["forms"]] == [form["id"]]
    edited = await client.patch(f"/api/forms/{form['id']}", json={"title": "Cakes", "isActive": False,
                                                                   "notificationEmail": None}, headers=shop.headers)
    assert edited.status == 200, await edited.text()
    body = await edited.json()
    assert (body["title"], body["isActive"], body["notificationEmail"], body["name"]) == (
        "Cakes", False, None, "Cake order")
    deleted = await client.delete(f"/api/forms/{form['id']}", headers=shop.headers)
    assert deleted.status == 204
    for method in ("GET", "PATCH", "DELETE"):
        gone = await client.request(method, f"/api/forms/{form['id']}", json={"title": "x"}, headers=shop.headers)
        assert gone.status == 404, method
    listed = await client.get(f"/api/agents/{shop.agent_id}/forms", headers=shop.headers)
    assert (await listed.json())["forms"] == []


async def test_a_deleted_forms_name_is_free_again(client: Client, shop: Shop) -> None:
    form = await _create(client, shop)
    await client.delete(f"/api/forms/{form['id']}", headers=shop.headers)
    again = await _create(client, shop)
    assert again["id"] != form["id"]


async def test_a_name_taken_or_reading_as_the_same_tool_is_a_409(client: Client, shop: Shop) -> None:
    first = await _create(client, shop)
    for name in ("Cake order", "cake ORDER!"):
        resp = await client.post(f"/api/agents/{shop.agent_id}/forms", json=cake_form(name=name),
                                 headers=shop.headers)
        assert resp.status == 409 and (await resp.json())["error"]["code"] == "FORM_NAME_TAKEN"
    other = await _create(client, shop, name="Quote")
    clash = await client.patch(f"/api/forms/{other['id']}", json={"name": "Cake Order"}, headers=shop.headers)
    assert clash.status == 409
    assert (await client.get(f"/api/forms/{first['id']}", headers=shop.headers)).status == 200


async def test_the_21st_form_and_the_31st_field_are_refused_naming_them(client: Client, shop: Shop) -> None:
    fields = [{"id": f"f{i}", "label": f"Field {i}", "type": "text"} for i in range(31)]
    resp = await client.post(f"/api/agents/{shop.agent_id}/forms", json=cake_form(fields=fields),
                             headers=shop.headers)
    error = (await resp.json())["error"]
    assert resp.status == 422 and error["field"] == "fields" and "30" in error["message"]
    for i in range(20):
        await _create(client, shop, name=f"Form {i}")
    resp = await client.post(f"/api/agents/{shop.agent_id}/forms", json=cake_form(name="One more"),
                             headers=shop.headers)
    error = (await resp.json())["error"]
    assert resp.status == 422 and (error["code"], error["field"]) == ("TOO_MANY_FORMS", "forms")


async def test_bad_definitions_are_422s_naming_the_field(client: Client, shop: Shop) -> None:
    bad = [
        ({"fields": [{"id": "a", "label": "A", "type": "file"}]}, "fields"),
        ({"fields": [{"id": "a", "label": "A", "type": "select"}]}, "fields"),
        ({"fields": [{"id": "a", "label": "A", "type": "text", "colour": "red"}]}, "fields"),
        ({"notificationEmail": "not an address"}, "notificationEmail"),
        ({"emailSubject": "Hi\r\nBcc: victim@example.com"}, "emailSubject"),
        ({"requireTermsAcceptance": True}, "termsAndConditions"),
        ({"surprise": 1}, "surprise"),
    ]
    for overrides, field in bad:
        resp = await client.post(f"/api/agents/{shop.agent_id}/forms", json=cake_form(**overrides),
                                 headers=shop.headers)
        assert resp.status == 422, overrides
        assert (await resp.json())["error"]["field"] == field, overrides


async def test_a_webhook_url_to_an_inside_address_is_refused_before_saving(
        client: Client, shop: Shop, pool: asyncpg.Pool) -> None:
    for url in ("https://loopback.test/hook", "https://lan.test/hook", "https://metadata.test/hook",
                "https://v6.test/hook", "https://127.0.0.1/hook", "https://[::1]/hook",
                "http://hooks.example.test/hook", "ftp://hooks.example.test/hook"):
        resp = await client.post(f"/api/agents/{shop.agent_id}/forms", json=cake_form(webhookUrl=url),
                                 headers=shop.headers)
        error = (await resp.json())["error"]
        assert (resp.status, error["code"], error["field"]) == (422, "URL_NOT_ALLOWED", "webhookUrl"), url
    assert await pool.fetchval("SELECT count(*) FROM forms") == 0
    assert await pool.fetchval("SELECT count(*) FROM webhook_endpoints") == 0


async def test_a_webhook_url_becomes_an_endpoint_filtered_to_the_form_and_moves_with_it(
        client: Client, shop: Shop, pool: asyncpg.Pool) -> None:
    form = await _create(client, shop, webhookUrl="https://hooks.example.test/cakes")
    assert str(form["webhookSecret"]).startswith("whsec_")
    row = await pool.fetchrow("SELECT url, event_types, form_ids FROM webhook_endpoints")
    assert (row["url"], row["event_types"], [str(f) for f in row["form_ids"]]) == (
        "https://hooks.example.test/cakes", ["form.submitted"], [form["id"]])
    moved = await client.patch(f"/api/forms/{form['id']}", json={"webhookUrl": "https://hooks.example.test/v2"},
                               headers=shop.headers)
    body = await moved.json()
    assert body["webhookEndpointId"] == form["webhookEndpointId"] and "webhookSecret" not in body
    refused = await client.patch(f"/api/forms/{form['id']}", json={"webhookUrl": "https://lan.test/x"},
                                 headers=shop.headers)
    assert refused.status == 422
    assert await pool.fetchval("SELECT url FROM webhook_endpoints") == "https://hooks.example.test/v2"
    await client.patch(f"/api/forms/{form['id']}", json={"webhookUrl": None}, headers=shop.headers)
    assert await pool.fetchval("SELECT count(*) FROM webhook_endpoints") == 0


async def test_another_business_form_answers_like_a_missing_one(
        client: Client, shop: Shop, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    form = await _create(client, shop)
    other = await make_business("Rival")
    own_agent = await agents.create_agent(pool, other.business_id, "Rival agent")
    for method, path in (("GET", f"/api/forms/{form['id']}"), ("PATCH", f"/api/forms/{form['id']}"),
                         ("DELETE", f"/api/forms/{form['id']}"), ("GET", f"/api/agents/{shop.agent_id}/forms")):
        resp = await client.request(method, path, json={"title": "mine"}, headers=other.headers)
        assert resp.status == 404, (method, path)
    assert (await client.get(f"/api/agents/{own_agent}/forms", headers=other.headers)).status == 200
