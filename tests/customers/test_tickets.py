"""Tickets in the domain: numbers per business without races, one per conversation, the lifecycle, auto-close."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import asyncpg
import pytest

from customers import tickets
from agent_server.config import Settings
from customers import ticket_closing
from customers.ticket_closing import CloseQuietTickets
from customers.ticket_errors import NotInBusiness, TicketClosed, TicketNotFound
from customers.tickets import NewTicket
from jobs.queue import Job
from jobs.runner import Runner
from tests.conftest import MakeBusiness
from tests.customers.ticket_world import MAIL_DOMAIN, Desk, open_desk
from tests.jobs.clock import ManualClock

NOW = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
async def desk(pool: asyncpg.Pool, make_business: MakeBusiness) -> Desk:
    return await open_desk(pool, make_business)


async def _open(pool: asyncpg.Pool, business_id: uuid.UUID, subject: str = "Oven broken", *,
                conversation_id: uuid.UUID | None = None, now: datetime.datetime = NOW,
                customer_id: uuid.UUID | None = None) -> tickets.Ticket:
    ticket, _ = await tickets.open_ticket(
        pool, business_id, NewTicket(subject, "It does not heat.", "dashboard", conversation_id=conversation_id,
                                     customer_id=customer_id), now=now, mail_domain=MAIL_DOMAIN)
    return ticket


async def test_numbers_start_at_1001_per_business(pool: asyncpg.Pool, desk: Desk, make_business: MakeBusiness) -> None:
    first, second = await _open(pool, desk.business_id), await _open(pool, desk.business_id)
    other = await open_desk(pool, make_business, "Florist", "owner@florist.example")
    assert (first.reference, second.reference) == ("T-1001", "T-1002")
    assert (await _open(pool, other.business_id)).reference == "T-1001"


async def test_fifty_tickets_opened_at_once_get_fifty_consecutive_numbers(pool: asyncpg.Pool, desk: Desk) -> None:
    opened = await asyncio.gather(*(_open(pool, desk.business_id, f"Issue {i}") for i in range(50)))
    assert sorted(t.number for t in opened) == list(range(1001, 1051))


async def test_one_conversation_opens_one_ticket_even_when_asked_at_once(pool: asyncpg.Pool, desk: Desk) -> None:
    conversation = uuid.uuid4()
    opened = await asyncio.gather(*(_open(pool, desk.business_id, conversation_id=conversation) for _ in range(10)))
    assert len({t.id for t in opened}) == 1
    assert await pool.fetchval("SELECT count(*) FROM support_tickets") == 1
    assert (await _open(pool, desk.business_id)).reference == "T-1002", "no number was spent on the repeats"


async def test_a_customer_fills_in_the_requester(pool: asyncpg.Pool, desk: Desk) -> None:
    ticket = await _open(pool, desk.business_id, customer_id=desk.customer_id)
    assert (ticket.requester_name, ticket.requester_email) == ("Carla", "carla@bakery-client.example")


async def test_another_business_agent_or_customer_is_not_found(pool: asyncpg.Pool, desk: Desk,
                                                              make_business: MakeBusiness) -> None:
    other = await open_desk(pool, make_business, "Florist", "owner@florist.example")
    with pytest.raises(NotInBusiness, match="customer"):
        await _open(pool, desk.business_id, customer_id=other.customer_id)
    with pytest.raises(NotInBusiness, match="agent"):
        await tickets.open_ticket(pool, desk.business_id, NewTicket("Hi", "", "dashboard", agent_id=other.agent_id),
                                  now=NOW, mail_domain=MAIL_DOMAIN)
    ticket = await _open(pool, other.business_id)
    with pytest.raises(TicketNotFound):
        await tickets.get(pool, desk.business_id, ticket.id)
    assert await pool.fetchval("SELECT count(*) FROM support_tickets") == 1


@pytest.mark.parametrize("subject", ["", "x" * 201, "Hi\r\nBcc: a@b.example"])
async def test_a_bad_subject_is_refused(pool: asyncpg.Pool, desk: Desk, subject: str) -> None:
    with pytest.raises(ValueError):
        await _open(pool, desk.business_id, subject)


async def test_staff_reply_takes_an_open_ticket_in_progress_and_a_customer_reply_reopens_a_resolved_one(
        pool: asyncpg.Pool, desk: Desk) -> None:
    ticket = await _open(pool, desk.business_id)
    assert ticket.status == "open"
    after_staff, _ = await tickets.add_message(pool, desk.business_id, ticket.id, "agent", "Looking into it",
                                               now=NOW, mail_domain=MAIL_DOMAIN, author_user_id=desk.tenant.user_id)
    assert after_staff.status == "in_progress"
    resolved = await tickets.update(pool, desk.business_id, ticket.id, status="resolved", now=NOW)
    assert (resolved.status, resolved.resolved_at) == ("resolved", NOW)
    reopened, message = await tickets.add_message(pool, desk.business_id, ticket.id, "customer", "Still cold",
                                                  now=NOW, mail_domain=MAIL_DOMAIN)
    assert reopened.status == "open"
    assert [m.sender_type for m in await tickets.thread(pool, ticket.id)] == ["agent", "customer"]
    assert message.message_id.endswith(f"@{MAIL_DOMAIN}>") and message.message_id != ticket.message_id


async def test_a_closed_ticket_refuses_replies_and_changes(pool: asyncpg.Pool, desk: Desk) -> None:
    ticket = await _open(pool, desk.business_id)
    closed = await tickets.update(pool, desk.business_id, ticket.id, status="closed", now=NOW)
    assert closed.closed_at == NOW
    with pytest.raises(TicketClosed):
        await tickets.add_message(pool, desk.business_id, ticket.id, "customer", "Hello?", now=NOW,
                                  mail_domain=MAIL_DOMAIN)
    with pytest.raises(TicketClosed):
        await tickets.update(pool, desk.business_id, ticket.id, priority="urgent", now=NOW)
    assert await pool.fetchval("SELECT count(*) FROM support_ticket_messages") == 0


async def test_a_resolved_ticket_closes_after_seven_quiet_days(pool: asyncpg.Pool, desk: Desk) -> None:
    clock = ManualClock(NOW)
    quiet, busy, still_open = [await _open(pool, desk.business_id, f"T{i}") for i in range(3)]
    for ticket in (quiet, busy):
        await tickets.update(pool, desk.business_id, ticket.id, status="resolved", now=NOW)
    job = CloseQuietTickets(pool, clock=clock)
    clock.advance(days=3)
    await tickets.add_message(pool, desk.business_id, busy.id, "agent", "Anything else?", now=clock.now,
                              mail_domain=MAIL_DOMAIN)
    clock.advance(days=4, seconds=-1)
    await job(Job(1, "customers.tickets_close", {}, None, None, 1, clock.now))
    assert (await tickets.get(pool, desk.business_id, quiet.id)).status == "resolved", "not yet seven days"
    clock.advance(seconds=1)
    await job(Job(2, "customers.tickets_close", {}, None, None, 1, clock.now))
    statuses = {t.id: t.status for t in await tickets.list_tickets(pool, desk.business_id, tickets.Filters(),
                                                                   after=None, limit=10)}
    assert statuses == {quiet.id: "closed", busy.id: "resolved", still_open.id: "open"}


async def test_the_runner_closes_a_quiet_resolved_ticket_on_its_hourly_schedule(
        pool: asyncpg.Pool, desk: Desk, settings: Settings) -> None:
    clock = ManualClock(NOW)
    ticket = await _open(pool, desk.business_id)
    await tickets.update(pool, desk.business_id, ticket.id, status="resolved", now=NOW)
    runner = Runner(pool, {ticket_closing.CLOSE_KIND: CloseQuietTickets(pool, clock=clock)}, settings.jobs,
                    recurring=ticket_closing.RECURRING, clock=clock)
    clock.advance(days=6, hours=23)
    await runner.run_once()
    assert (await tickets.get(pool, desk.business_id, ticket.id)).status == "resolved"
    clock.advance(hours=2)
    assert await runner.run_once() == 1
    closed = await tickets.get(pool, desk.business_id, ticket.id)
    assert (closed.status, closed.closed_at) == ("closed", clock.now)
