"""The staff's ticket routes: the dashboard's create call, list with filters and pages, read, edit, reply."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from customers import tickets
from tests.conftest import MakeBusiness, MakeClient
from tests.customers.ticket_world import MAIL_DOMAIN, Desk, open_desk

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def desk(pool: asyncpg.Pool, make_business: MakeBusiness) -> Desk:
    return await open_desk(pool, make_business)


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client()


async def _create(client: Client, desk: Desk, **body: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/api/customers/tickets", json={"subject": "Oven broken", "description": "Cold",
                                                             **body}, headers=desk.tenant.headers)
    return resp.status, await resp.json()


async def test_the_dashboard_opens_a_ticket_for_a_customer_in_snake_case(client: Client, desk: Desk) -> None:
    status, ticket = await _create(client, desk, priority="high", customer_id=str(desk.customer_id),
                                   chatbot_id=str(desk.agent_id))
    assert status == 201, ticket
    assert (ticket["number"], ticket["status"], ticket["priority"], ticket["source"]) == (
        "T-1001", "open", "high", "dashboard")
    assert (ticket["customerId"], ticket["agentId"]) == (str(desk.customer_id), str(desk.agent_id))
    assert (ticket["requesterName"], ticket["requesterEmail"]) == ("Carla", "carla@bakery-client.example")
    status, second = await _create(client, desk)
    assert (status, second["number"], second["priority"]) == (201, "T-1002", "medium")


@pytest.mark.parametrize(("body", "field"), [
    ({"priority": "critical"}, "priority"),
    ({"subject": "x" * 201}, "subject"),
    ({"subject": ""}, "subject"),
    ({"description": "x" * 10_001}, "description"),
    ({"customer_id": "not-a-uuid"}, "customer_id"),
])
async def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
        client: Client, desk: Desk, pool: asyncpg.Pool, body: dict[str, Any], field: str) -> None:
    status, answer = await _create(client, desk, **body)
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (422, "VALIDATION_ERROR", field)
    assert await pool.fetchval("SELECT count(*) FROM support_tickets") == 0


async def test_another_business_customer_answers_as_a_missing_one(
        client: Client, desk: Desk, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    other = await open_desk(pool, make_business, "Florist", "owner@florist.example")
    foreign = await _create(client, desk, customer_id=str(other.customer_id))
    missing = await _create(client, desk, customer_id=str(uuid.uuid4()))
    assert foreign == missing == (404, {"error": {"code": "NOT_FOUND", "message": "customer not found"}})


async def test_a_ticket_is_read_edited_and_answered_until_closed(client: Client, desk: Desk) -> None:
    _, ticket = await _create(client, desk, customer_id=str(desk.customer_id))
    path, headers = f"/api/tickets/{ticket['id']}", desk.tenant.headers
    reply = await client.post(f"{path}/messages", json={"content": "We are on our way"}, headers=headers)
    assert reply.status == 201
    posted = await reply.json()
    assert (posted["message"]["senderType"], posted["ticket"]["status"]) == ("agent", "in_progress")
    for bad in ({"status": "done"}, {"priority": "asap"}, {}):
        refused = await client.patch(path, json=bad, headers=headers)
        assert refused.status == 422, bad
    resolved = await client.patch(path, json={"status": "resolved", "priority": "low"}, headers=headers)
    assert ((await resolved.json())["status"], (await resolved.json())["priority"]) == ("resolved", "low")
    detail = await (await client.get(path, headers=headers)).json()
    assert [m["content"] for m in detail["messages"]] == ["We are on our way"]
    assert detail["ticket"]["resolvedAt"] is not None
    assert (await client.patch(path, json={"status": "closed"}, headers=headers)).status == 200
    refused = await client.post(f"{path}/messages", json={"content": "One more thing"}, headers=headers)
    assert (refused.status, (await refused.json())["error"]["code"]) == (409, "TICKET_CLOSED")
    too_long = await client.post(f"{path}/messages", json={"content": "x" * 10_001}, headers=headers)
    assert too_long.status == 422


async def test_the_list_filters_and_pages_newest_first(client: Client, desk: Desk, pool: asyncpg.Pool) -> None:
    start = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)

    async def open_one(i: int) -> None:
        await tickets.open_ticket(pool, desk.business_id, tickets.NewTicket(
            f"Issue {i}", "", "dashboard", priority="urgent" if i % 10 == 0 else "medium",
            agent_id=desk.agent_id if i < 5 else None), now=start + datetime.timedelta(minutes=i),
            mail_domain=MAIL_DOMAIN)
    await asyncio.gather(*(open_one(i) for i in range(60)))
    headers = desk.tenant.headers
    first = await (await client.get("/api/tickets", headers=headers)).json()
    assert [t["subject"] for t in first["tickets"]][:2] == ["Issue 59", "Issue 58"]
    second = await (await client.get("/api/tickets", params={"cursor": first["nextCursor"]}, headers=headers)).json()
    assert len(first["tickets"]) + len(second["tickets"]) == 60 and second["nextCursor"] is None
    urgent = await (await client.get("/api/tickets", params={"priority": "urgent"}, headers=headers)).json()
    assert [t["subject"] for t in urgent["tickets"]] == [f"Issue {i}" for i in (50, 40, 30, 20, 10, 0)]
    agent = await (await client.get("/api/tickets", params={"agentId": str(desk.agent_id), "status": "open"},
                                    headers=headers)).json()
    assert len(agent["tickets"]) == 5
    for params in ({"status": "pending"}, {"cursor": "nonsense"}):
        assert (await client.get("/api/tickets", params=params, headers=headers)).status == 422, params
    unknown = await client.get("/api/tickets", params={"agentId": str(uuid.uuid4())}, headers=headers)
    assert unknown.status == 404
