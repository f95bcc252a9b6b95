"""The portal's tickets: a customer sees and answers only their own, about agents they are assigned now."""

from __future__ import annotations

import datetime
import uuid

import asyncpg

from customers import tickets
from mail import outbox
from tests.customers.conftest import Client, Shop, invite, sign_in
from tests.customers.ticket_world import MAIL_DOMAIN

BASE = "/api/customers/portal/tickets"
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


async def _staff_ticket(pool: asyncpg.Pool, shop: Shop, customer_id: uuid.UUID | None, agent_id: uuid.UUID | None,
                        subject: str) -> tickets.Ticket:
    ticket, _ = await tickets.open_ticket(pool, shop.business_id, tickets.NewTicket(
        subject, "", "dashboard", agent_id=agent_id, customer_id=customer_id), now=NOW, mail_domain=MAIL_DOMAIN)
    return ticket


async def test_a_customer_opens_a_ticket_and_the_business_is_mailed(
        client: Client, pool: asyncpg.Pool, shop: Shop, signed_in: dict[str, str]) -> None:
    resp = await client.post(BASE, json={"subject": "Wrong hours", "description": "<script>x</script>",
                                         "agentId": str(shop.agent_1)}, headers=signed_in)
    assert resp.status == 201, await resp.text()
    ticket = await resp.json()
    assert (ticket["number"], ticket["source"], ticket["requesterEmail"]) == ("T-1001", "portal", "maria@example.com")
    opened = [e for e in await outbox.list_emails(pool, business_id=shop.business_id)
              if e.template == "ticket_opened"]
    assert [e.subject for e in opened] == ["[T-1001] Wrong hours"]
    unassigned = await client.post(BASE, json={"subject": "Hi", "agentId": str(shop.agent_2)}, headers=signed_in)
    missing = await client.post(BASE, json={"subject": "Hi", "agentId": str(uuid.uuid4())}, headers=signed_in)
    assert (unassigned.status, await unassigned.json()) == (missing.status, await missing.json())
    assert unassigned.status == 404


async def test_only_the_customers_own_tickets_about_assigned_agents_are_seen(
        client: Client, pool: asyncpg.Pool, shop: Shop, signed_in: dict[str, str]) -> None:
    maria = await pool.fetchval("SELECT id FROM customers WHERE email = 'maria@example.com'")
    other = await invite(client, shop, "omar@example.com")
    mine = await _staff_ticket(pool, shop, maria, shop.agent_1, "Mine")
    general = await _staff_ticket(pool, shop, maria, None, "Mine, no agent")
    about_agent_2 = await _staff_ticket(pool, shop, maria, shop.agent_2, "Agent 2")
    omars = await _staff_ticket(pool, shop, other, shop.agent_1, "Omar's")
    listed = await (await client.get(BASE, headers=signed_in)).json()
    assert {t["id"] for t in listed["tickets"]} == {str(mine.id), str(general.id)}
    missing = await client.get(f"{BASE}/{uuid.uuid4()}", headers=signed_in)
    for hidden in (about_agent_2, omars):
        for method, path, body in (("GET", f"{BASE}/{hidden.id}", None),
                                   ("POST", f"{BASE}/{hidden.id}/messages", {"content": "Hello"})):
            resp = await client.request(method, path, json=body, headers=signed_in)
            assert (resp.status, await resp.json()) == (404, await missing.json()), (hidden.subject, method)
    assert await pool.fetchval("SELECT count(*) FROM support_ticket_messages") == 0


async def test_a_customer_reply_reopens_a_resolved_ticket_and_a_closed_one_refuses_it(
        client: Client, pool: asyncpg.Pool, shop: Shop, signed_in: dict[str, str]) -> None:
    maria = await pool.fetchval("SELECT id FROM customers WHERE email = 'maria@example.com'")
    ticket = await _staff_ticket(pool, shop, maria, shop.agent_1, "Oven")
    await tickets.update(pool, shop.business_id, ticket.id, status="resolved", now=NOW)
    reply = await client.post(f"{BASE}/{ticket.id}/messages", json={"content": "Still cold"}, headers=signed_in)
    assert reply.status == 201
    posted = await reply.json()
    assert (posted["ticket"]["status"], posted["message"]["senderType"]) == ("open", "customer")
    detail = await (await client.get(f"{BASE}/{ticket.id}", headers=signed_in)).json()
    assert [m["content"] for m in detail["messages"]] == ["Still cold"]
    await tickets.update(pool, shop.business_id, ticket.id, status="closed", now=NOW)
    refused = await client.post(f"{BASE}/{ticket.id}/messages", json={"content": "Hello?"}, headers=signed_in)
    assert (refused.status, (await refused.json())["error"]["code"]) == (409, "TICKET_CLOSED")


async def test_unassigning_the_agent_hides_its_tickets_at_once(
        client: Client, pool: asyncpg.Pool, shop: Shop) -> None:
    customer = await invite(client, shop, "lee@example.com", shop.agent_1, shop.agent_2)
    headers = await sign_in(client, pool, "lee@example.com")
    ticket = await _staff_ticket(pool, shop, customer, shop.agent_2, "About agent 2")
    assert (await client.get(f"{BASE}/{ticket.id}", headers=headers)).status == 200
    put = await client.put(f"/api/customers/{customer}/chatbots", json={"chatbot_ids": [str(shop.agent_1)]},
                           headers=shop.tenant.headers)
    assert put.status == 200, await put.text()
    assert (await client.get(f"{BASE}/{ticket.id}", headers=headers)).status == 404
