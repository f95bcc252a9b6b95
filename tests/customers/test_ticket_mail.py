"""Tickets' emails at a local SMTP server: who gets what, one thread in a mail client, values escaped."""

from __future__ import annotations

import datetime
from email.message import EmailMessage

import asyncpg
import pytest

from agent_server import tenants
from customers import tickets
from jobs.queue import Job
from mail import outbox
from mail.sending import SendEmail
from mail.smtp import SmtpMailer, SmtpTarget
from outcomes.notifications import Preferences, save_preferences
from tests.conftest import MakeBusiness
from tests.customers.ticket_world import MAIL_DOMAIN, Desk, open_desk
from tests.fake_smtp import FakeSmtp

NOW = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
async def desk(pool: asyncpg.Pool, make_business: MakeBusiness) -> Desk:
    return await open_desk(pool, make_business)


async def _deliver(pool: asyncpg.Pool) -> list[EmailMessage]:
    """Send every queued email through the mail.send handler to a local SMTP server; what it received."""
    async with FakeSmtp() as smtp:
        mailer = SmtpMailer(SmtpTarget.parse(smtp.url), timeout_seconds=5)
        try:
            for email in reversed(await outbox.list_emails(pool, status="queued")):
                await SendEmail(pool, mailer, sender=f"desk@{MAIL_DOMAIN}")(
                    Job(1, outbox.SEND_KIND, {"outboxId": email.id}, None, None, 1, NOW))
        finally:
            await mailer.close()
        return list(smtp.received)


def _parts(message: EmailMessage) -> tuple[str, str]:
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    assert html is not None and text is not None
    return html.get_content(), text.get_content()


async def _member(pool: asyncpg.Pool, desk: Desk, email: str) -> None:
    user_id = await tenants.create_user(pool, email)
    await tenants.add_member(pool, desk.business_id, user_id, "member")


async def _open(pool: asyncpg.Pool, desk: Desk, description: str = "It does not heat.") -> tickets.Ticket:
    ticket, _ = await tickets.open_ticket(
        pool, desk.business_id, tickets.NewTicket("Oven broken", description, "dashboard",
                                                  customer_id=desk.customer_id),
        now=NOW, mail_domain=MAIL_DOMAIN, author_user_id=desk.tenant.user_id)
    return ticket


async def test_a_new_ticket_reaches_the_other_members_with_its_values_escaped(pool: asyncpg.Pool, desk: Desk) -> None:
    await _member(pool, desk, "sam@bakery.example")
    ticket = await _open(pool, desk, description=SCRIPT)
    (message,) = await _deliver(pool)
    assert message["To"] == "sam@bakery.example", "the owner who opened it is not told about it"
    assert message["Subject"] == "[T-1001] Oven broken"
    assert message["Message-ID"] == ticket.message_id and message.get_all("Message-ID") == [ticket.message_id]
    html, text = _parts(message)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and SCRIPT not in html
    assert SCRIPT in text


async def test_a_staff_reply_reaches_the_requester_threaded_with_reply_to_the_owners(
        pool: asyncpg.Pool, desk: Desk) -> None:
    ticket = await _open(pool, desk)
    await _deliver(pool)
    _, reply = await tickets.add_message(pool, desk.business_id, ticket.id, "agent", f"Fixed {SCRIPT}", now=NOW,
                                         mail_domain=MAIL_DOMAIN, author_user_id=desk.tenant.user_id)
    (message,) = await _deliver(pool)
    assert (message["To"], message["Subject"]) == ("carla@bakery-client.example", "[T-1001] Oven broken")
    assert message["Message-ID"] == reply.message_id
    assert message["In-Reply-To"] == message["References"] == ticket.message_id
    assert message["Reply-To"] == "owner@bakery.example"
    html, _ = _parts(message)
    assert "Fixed &lt;script&gt;" in html


async def test_reply_to_is_the_business_support_address_when_it_has_one(pool: asyncpg.Pool, desk: Desk) -> None:
    await pool.execute("UPDATE businesses SET support_email = 'help@bakery.example' WHERE id = $1", desk.business_id)
    ticket = await _open(pool, desk)
    await tickets.add_message(pool, desk.business_id, ticket.id, "agent", "On it", now=NOW, mail_domain=MAIL_DOMAIN)
    (message,) = await _deliver(pool)
    assert message["Reply-To"] == "help@bakery.example"


async def test_a_customer_reply_reaches_the_members_who_want_ticket_emails_in_the_same_thread(
        pool: asyncpg.Pool, desk: Desk) -> None:
    await _member(pool, desk, "quiet@bakery.example")
    quiet = await pool.fetchval("SELECT id FROM users WHERE email = 'quiet@bakery.example'")
    await save_preferences(pool, quiet, desk.business_id, Preferences(ticket_activity=False), now=NOW)
    ticket = await _open(pool, desk)
    first = await tickets.add_message(pool, desk.business_id, ticket.id, "customer", "Still cold", now=NOW,
                                      mail_domain=MAIL_DOMAIN)
    second = await tickets.add_message(pool, desk.business_id, ticket.id, "customer", "Hello?", now=NOW,
                                       mail_domain=MAIL_DOMAIN)
    received = await _deliver(pool)
    assert [m["To"] for m in received] == ["owner@bakery.example"] * 2
    assert [m["Message-ID"] for m in received] == [first[1].message_id, second[1].message_id]
    assert {m["In-Reply-To"] for m in received} == {m["References"] for m in received} == {ticket.message_id}
    assert all(m["Subject"] == "[T-1001] Oven broken" for m in received)


async def test_without_a_requester_address_a_staff_reply_mails_nobody(pool: asyncpg.Pool, desk: Desk) -> None:
    ticket, _ = await tickets.open_ticket(pool, desk.business_id, tickets.NewTicket(
        "Call back", "", "sms", requester_phone="+14155550142"), now=NOW, mail_domain=MAIL_DOMAIN)
    before = len(await outbox.list_emails(pool))
    await tickets.add_message(pool, desk.business_id, ticket.id, "agent", "Calling you", now=NOW,
                              mail_domain=MAIL_DOMAIN)
    assert len(await outbox.list_emails(pool)) == before
