"""Customers managed from the dashboard: invite, list, read, edit, assign agents, disable, send a link."""

from __future__ import annotations

import uuid

import asyncpg

from agent_server.config import Settings
from tests.conftest import MakeBusiness
from tests.customers.conftest import Client, Shop, deliver, invite, latest_token, open_shop, sign_in


async def test_an_invited_customer_gets_201_and_a_mailed_link_and_its_password_is_ignored(
        client: Client, pool: asyncpg.Pool, shop: Shop, portal_settings: Settings) -> None:
    resp = await client.post("/api/customers", headers=shop.tenant.headers, json={
        "email": "Maria@Example.com", "full_name": "Maria Lopez", "company_name": "Lopez Catering",
        "chatbot_id": str(shop.agent_1), "password": "hunter2"})
    assert resp.status == 201
    body = await resp.json()
    assert body == {"customer_id": body["customer_id"], "email": "maria@example.com", "status": "invited"}
    (mail,) = await deliver(pool, portal_settings)
    assert mail["To"] == "maria@example.com"
    assert "invited you" in mail["Subject"]
    text = mail.get_body(("plain",))
    assert text is not None and "http://127.0.0.1:3000/portal/login#token=" in text.get_content()
    assert "hunter2" not in str(await pool.fetch("SELECT * FROM customers"))
    stored = await pool.fetchval("SELECT token_hash FROM customer_login_links")
    assert len(stored) == 32, "only the SHA-256 of the token is kept"


async def test_invalid_email_is_422_and_writes_nothing(client: Client, pool: asyncpg.Pool, shop: Shop) -> None:
    resp = await client.post("/api/customers", headers=shop.tenant.headers,
                             json={"email": "not-an-address", "full_name": "Maria"})
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "email"
    assert await pool.fetchval("SELECT count(*) FROM customers") == 0


async def test_an_existing_address_is_409_whatever_its_case(client: Client, shop: Shop) -> None:
    await invite(client, shop, "maria@example.com")
    resp = await client.post("/api/customers", headers=shop.tenant.headers,
                             json={"email": "MARIA@example.com", "full_name": "Maria again"})
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "CUSTOMER_EXISTS"


async def test_another_business_agent_is_refused_like_a_missing_one(
        client: Client, pool: asyncpg.Pool, shop: Shop, make_business: MakeBusiness) -> None:
    other = await open_shop(pool, make_business, "Rival")
    answers = []
    for agent in (other.agent_1, uuid.uuid4()):
        resp = await client.post("/api/customers", headers=shop.tenant.headers,
                                 json={"email": "maria@example.com", "full_name": "Maria", "chatbot_ids": [str(agent)]})
        answers.append((resp.status, await resp.json()))
    assert answers[0] == answers[1] and answers[0][0] == 404
    assert await pool.fetchval("SELECT count(*) FROM customers") == 0


async def test_list_read_edit_and_reassign(client: Client, shop: Shop) -> None:
    customer_id = await invite(client, shop, "maria@example.com")
    headers = shop.tenant.headers
    listed = await (await client.get("/api/customers", headers=headers)).json()
    assert [c["id"] for c in listed["customers"]] == [str(customer_id)]
    resp = await client.patch(f"/api/customers/{customer_id}", headers=headers, json={
        "full_name": "Maria L.", "company_name": "Lopez Catering", "weekly_summary_enabled": False})
    edited = await resp.json()
    assert (edited["full_name"], edited["company_name"], edited["weekly_summary_enabled"]) == (
        "Maria L.", "Lopez Catering", False)
    resp = await client.put(f"/api/customers/{customer_id}/chatbots", headers=headers,
                            json={"chatbot_ids": [str(shop.agent_2)]})
    assert (await resp.json())["chatbot_ids"] == [str(shop.agent_2)]
    read = await (await client.get(f"/api/customers/{customer_id}", headers=headers)).json()
    assert (read["full_name"], read["status"], read["chatbot_ids"]) == ("Maria L.", "invited", [str(shop.agent_2)])


async def test_delete_disables_keeps_the_row_and_ends_the_session_at_the_next_request(
        client: Client, pool: asyncpg.Pool, shop: Shop) -> None:
    customer_id = await invite(client, shop, "maria@example.com")
    portal = await sign_in(client, pool, "maria@example.com")
    assert (await client.get("/api/customers/portal/me", headers=portal)).status == 200
    resp = await client.delete(f"/api/customers/{customer_id}", headers=shop.tenant.headers)
    assert (await resp.json())["status"] == "disabled"
    assert (await client.get("/api/customers/portal/me", headers=portal)).status == 401
    assert await pool.fetchval("SELECT count(*) FROM customers") == 1
    assert await pool.fetchval("SELECT count(*) FROM customer_sessions WHERE revoked_at IS NULL") == 0


async def test_a_disabled_customers_unused_link_is_revoked(client: Client, pool: asyncpg.Pool, shop: Shop) -> None:
    customer_id = await invite(client, shop, "maria@example.com")
    token = await latest_token(pool, "maria@example.com")
    await client.delete(f"/api/customers/{customer_id}", headers=shop.tenant.headers)
    resp = await client.post("/api/customers/portal/session", json={"token": token})
    assert resp.status == 410


async def test_staff_login_link_mails_a_fresh_link_and_answers_without_it(
        client: Client, pool: asyncpg.Pool, shop: Shop, portal_settings: Settings) -> None:
    customer_id = await invite(client, shop, "maria@example.com")
    first = await latest_token(pool, "maria@example.com")
    resp = await client.post("/api/customers/login-link", headers=shop.tenant.headers,
                             json={"customer_id": str(customer_id)})
    assert resp.status == 202
    assert await resp.json() == {"customer_id": str(customer_id), "status": "queued"}
    second = await latest_token(pool, "maria@example.com")
    assert second != first
    assert len(await deliver(pool, portal_settings)) == 2
