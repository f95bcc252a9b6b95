"""Emailed replies to tickets through `agent-server inbound-smtp` on 127.0.0.1, sent by a real SMTP client (smtplib):
appended once without the quoted thread; a forged address refused; a stranger's reply dropped."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import smtplib
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage

import asyncpg
import pytest

from agent_server.cli import main
from agent_server.config import Settings
from agent_server.customer_jobs import reply_addresses
from agent_server.inbound_smtp import serving
from customers import inbound_mail, tickets
from customers.reply_addresses import ReplyAddresses
from tests.conftest import MakeSettings
from tests.customers.conftest import Shop

REQUESTER = "carla@client.example"
QUOTED = ("Thanks, the oven works again.\n\nOn Tue, 8 Dec 2026 at 10:00, Bakery <help@bakery.example>\nwrote:\n"
          "> On it\n> -- \n> Bakery")


@dataclasses.dataclass(frozen=True)
class Inbound:
    port: int
    addresses: ReplyAddresses


@pytest.fixture
def inbound_settings(make_settings: MakeSettings) -> Settings:
    return make_settings(CUSTOMER_INBOUND_DOMAIN="in.agent.example")


@pytest.fixture
async def inbound(pool: asyncpg.Pool, inbound_settings: Settings) -> AsyncIterator[Inbound]:
    addresses = reply_addresses(inbound_settings)
    assert addresses is not None
    async with serving(inbound_settings, pool, "127.0.0.1", 0) as server:
        yield Inbound(server.sockets[0].getsockname()[1], addresses)


async def _ticket(pool: asyncpg.Pool, shop: Shop, status: tickets.Status = "resolved") -> tickets.Ticket:
    ticket, _ = await tickets.open_ticket(
        pool, shop.business_id, tickets.NewTicket("Oven broken", "Cold", "dashboard", requester_email=REQUESTER),
        now=datetime.datetime.now(datetime.UTC), mail_domain="agent.example")
    return await tickets.update(pool, shop.business_id, ticket.id, status=status,
                                now=datetime.datetime.now(datetime.UTC))


def _email(to: str, body: str, *, sender: str = REQUESTER, message_id: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = f"Carla <{sender}>", to, "Re: [T-1001] Oven broken"
    message["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@client.example>"
    message.set_content(body)
    return message


async def _send(port: int, message: EmailMessage, *, envelope_from: str = REQUESTER) -> None:
    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(message, from_addr=envelope_from)

    await asyncio.to_thread(send)


async def _thread(pool: asyncpg.Pool, ticket_id: uuid.UUID) -> list[tuple[str, str]]:
    return [(m.sender_type, m.content) for m in await tickets.thread(pool, ticket_id)]


async def test_a_requesters_emailed_reply_joins_its_ticket_once_without_the_quoted_thread(
        pool: asyncpg.Pool, shop: Shop, inbound: Inbound) -> None:
    ticket = await _ticket(pool, shop)
    reply = _email(inbound.addresses.for_ticket(ticket.id), QUOTED)
    await _send(inbound.port, reply)
    await _send(inbound.port, reply)  # the sending MTA retried
    assert await _thread(pool, ticket.id) == [("customer", "Thanks, the oven works again.")]
    found = await tickets.get(pool, shop.business_id, ticket.id)
    assert found.status == "open", "a reply reopens a resolved ticket"
    assert await pool.fetchval("SELECT count(*) FROM email_outbox WHERE template = 'ticket_message'") == 1, \
        "the business is told once"


async def test_a_forged_or_foreign_address_is_refused_and_nothing_is_appended(
        pool: asyncpg.Pool, shop: Shop, inbound: Inbound) -> None:
    ticket = await _ticket(pool, shop)
    good = inbound.addresses.for_ticket(ticket.id)
    forged = good.replace(good[good.index(".") + 1], "0" if good[good.index(".") + 1] != "0" else "1", 1)
    other_key = ReplyAddresses("in.agent.example", b"another key").for_ticket(ticket.id)
    for to in (forged, other_key, "someone@elsewhere.example"):
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            await _send(inbound.port, _email(to, "Let me in"))
    assert await _thread(pool, ticket.id) == []


async def test_a_reply_from_someone_other_than_the_requester_is_dropped(
        pool: asyncpg.Pool, shop: Shop, inbound: Inbound) -> None:
    ticket = await _ticket(pool, shop)
    await _send(inbound.port, _email(inbound.addresses.for_ticket(ticket.id), "Me too!",
                                     sender="mallory@evil.example"), envelope_from="mallory@evil.example")
    assert await _thread(pool, ticket.id) == []
    closed = await _ticket(pool, shop, status="closed")
    await _send(inbound.port, _email(inbound.addresses.for_ticket(closed.id), "Hello again"))
    assert await _thread(pool, closed.id) == [], "a closed ticket takes no replies"


def test_the_quoted_thread_and_signatures_are_cut_from_a_reply() -> None:
    samples = {
        QUOTED: "Thanks, the oven works again.",
        "Yes please.\n\n-----Original Message-----\nFrom: Bakery\nOn it": "Yes please.",
        "Fine by me\n\n________________________________\nFrom: Bakery <help@bakery.example>": "Fine by me",
        "Noted.\n-- \nCarla Lopez\nClient Ltd": "Noted.",
        "On Monday works.\nOn Tue, 8 Dec 2026, Bakery wrote:\n> On it": "On Monday works.",
        "> only quotes": "",
    }
    for body, expected in samples.items():
        message = EmailMessage()
        message.set_content(body)
        assert inbound_mail.reply_text(message) == expected, body
    html_only = EmailMessage()
    html_only.set_content("<p>Tea &amp; cake</p><blockquote>On it</blockquote>", subtype="html")
    assert inbound_mail.reply_text(html_only) == "Tea & cake"


def test_the_command_refuses_to_start_without_an_inbound_domain(monkeypatch: pytest.MonkeyPatch, database_url: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("CUSTOMER_INBOUND_DOMAIN", raising=False)
    assert main(["inbound-smtp", "--port", "0"]) == 2
    assert "customers.inbound_domain (CUSTOMER_INBOUND_DOMAIN) must be set" in capsys.readouterr().err
