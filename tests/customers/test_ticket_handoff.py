"""The `open_ticket` handoff tool: one ticket per conversation, the channel's phone, an email first on the widget."""

from __future__ import annotations

import asyncio
import datetime
import json
import uuid

import asyncpg
import jsonschema
import pytest

from customers.ticket_handoff import TOOL, HandoffContext, handoff
from mail import outbox
from tests.conftest import MakeBusiness
from tests.customers.ticket_world import MAIL_DOMAIN, Desk, open_desk

NOW = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)
CALLER = "+14155550142"


@pytest.fixture
async def desk(pool: asyncpg.Pool, make_business: MakeBusiness) -> Desk:
    return await open_desk(pool, make_business)


def _context(desk: Desk, channel: str, phone: str | None = None) -> HandoffContext:
    return HandoffContext(desk.business_id, desk.agent_id, uuid.uuid4(), channel, phone)  # type: ignore[arg-type]


async def test_the_widget_asks_for_an_email_before_opening_a_ticket(pool: asyncpg.Pool, desk: Desk) -> None:
    context = _context(desk, "widget")
    asked = await handoff(pool, context, {"summary": "Wants a refund"}, now=NOW, mail_domain=MAIL_DOMAIN)
    assert asked.ticket is None and "email" in asked.message
    opened = await handoff(pool, context, json.dumps({"summary": "Wants a refund\nOrder 55 arrived broken",
                                                      "email": "Ana@Example.com", "name": "Ana"}),
                           now=NOW, mail_domain=MAIL_DOMAIN)
    assert opened.created and opened.ticket is not None
    ticket = opened.ticket
    assert (ticket.reference, ticket.source, ticket.subject) == ("T-1001", "widget", "Wants a refund")
    assert (ticket.requester_email, ticket.requester_name, ticket.agent_id) == ("Ana@example.com", "Ana", desk.agent_id)
    assert "T-1001" in opened.message
    assert [e.template for e in await outbox.list_emails(pool)] == ["ticket_opened"], "the business is told"


async def test_sms_and_calls_take_the_phone_from_the_channel(pool: asyncpg.Pool, desk: Desk) -> None:
    for channel, phone in (("sms", CALLER), ("call", CALLER), ("whatsapp", f"whatsapp:{CALLER}")):
        result = await handoff(pool, _context(desk, channel, phone),
                               {"summary": "Call me back", "phone": "+19999999999", "priority": "high"},
                               now=NOW, mail_domain=MAIL_DOMAIN)
        assert result.ticket is not None, result.message
        assert (result.ticket.source, result.ticket.requester_phone, result.ticket.priority) == (
            channel, CALLER, "high")


async def test_one_conversation_gets_one_ticket_even_when_the_tool_is_called_at_once(
        pool: asyncpg.Pool, desk: Desk) -> None:
    context = _context(desk, "call", CALLER)
    results = await asyncio.gather(*(handoff(pool, context, {"summary": "Broken oven"}, now=NOW,
                                             mail_domain=MAIL_DOMAIN) for _ in range(5)))
    assert sum(r.created for r in results) == 1
    assert {r.ticket.id for r in results if r.ticket} == {results[0].ticket.id if results[0].ticket else None}
    assert all("T-1001" in r.message for r in results)
    assert await pool.fetchval("SELECT count(*) FROM support_tickets") == 1


@pytest.mark.parametrize("arguments", [
    "not json", "[]", {}, {"summary": "  "}, {"summary": "x" * 10_001}, {"summary": "Hi", "priority": "asap"},
    {"summary": "Hi", "email": "not-an-address"}, {"summary": 5},
])
async def test_wrong_arguments_are_told_to_the_model_and_open_nothing(pool: asyncpg.Pool, desk: Desk,
                                                                     arguments: object) -> None:
    result = await handoff(pool, _context(desk, "sms", CALLER), arguments,  # type: ignore[arg-type]
                           now=NOW, mail_domain=MAIL_DOMAIN)
    assert result.ticket is None and result.message.startswith("No ticket was opened")
    assert await pool.fetchval("SELECT count(*) FROM support_tickets") == 0


def test_the_tool_definition_is_a_valid_json_schema_for_its_arguments() -> None:
    schema = TOOL["function"]["parameters"]
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate({"summary": "Hi", "priority": "urgent"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"summary": "Hi", "priority": "asap"}, schema)
