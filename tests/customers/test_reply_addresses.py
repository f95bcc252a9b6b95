"""Tickets' reply addresses: signed per ticket, and a staff reply's Reply-To when inbound mail is on."""

from __future__ import annotations

import dataclasses
import datetime
import uuid

import asyncpg
import pytest

from agent_server.config import ConfigError, Settings, settings_from
from agent_server.customer_jobs import reply_addresses
from customers import tickets
from customers.reply_addresses import ReplyAddresses
from tests.conftest import MakeClient, MakeSettings
from tests.customers.conftest import Shop

ADDRESSES = ReplyAddresses("in.agent.example", b"test reply key")


def test_a_reply_address_names_its_ticket_and_nothing_else_does() -> None:
    ticket = uuid.uuid4()
    address = ADDRESSES.for_ticket(ticket)
    local, _, domain = address.partition("@")
    assert domain == "in.agent.example" and local.startswith(f"t+{ticket.hex}.") and len(local) <= 64
    assert ADDRESSES.ticket_of(address) == ticket
    assert ADDRESSES.ticket_of(f"<{address.upper()}>") == ticket, "mail systems may change the case"
    forged = address.replace(".", ".0", 1)
    other = ReplyAddresses("in.agent.example", b"another key").for_ticket(ticket)
    for bad in (forged, other, address.replace("in.agent.example", "agent.example"),
                f"t+{uuid.uuid4().hex}.{local.rpartition('.')[2]}@in.agent.example", "owner@bakery.example", ""):
        assert ADDRESSES.ticket_of(bad) is None, bad


def test_the_inbound_domain_must_be_a_domain_name() -> None:
    assert settings_from({}, {"CUSTOMER_INBOUND_DOMAIN": "In.Agent.Example"}).customers.inbound_domain == \
        "in.agent.example"
    with pytest.raises(ConfigError, match="inbound_domain"):
        settings_from({"customers": {"inbound_domain": "not a domain@x"}}, {})


async def _staff_reply(make_client: MakeClient, settings: Settings, pool: asyncpg.Pool, shop: Shop) -> tuple[
        uuid.UUID, dict[str, str]]:
    ticket, _ = await tickets.open_ticket(
        pool, shop.business_id, tickets.NewTicket("Oven broken", "Cold", "dashboard",
                                                  requester_email="carla@client.example"),
        now=datetime.datetime.now(datetime.UTC), mail_domain="agent.example")
    client = await make_client(settings)
    resp = await client.post(f"/api/tickets/{ticket.id}/messages", headers=shop.tenant.headers,
                             json={"content": "On it"})
    assert resp.status == 201, await resp.text()
    headers = await pool.fetchval("SELECT headers FROM email_outbox WHERE recipient = 'carla@client.example'")
    return ticket.id, headers


async def test_with_inbound_on_a_staff_reply_answers_to_the_tickets_own_address(
        make_client: MakeClient, make_settings: MakeSettings, pool: asyncpg.Pool, shop: Shop) -> None:
    await pool.execute("UPDATE businesses SET support_email = 'help@bakery.example' WHERE id = $1", shop.business_id)
    settings = make_settings(CUSTOMER_INBOUND_DOMAIN="in.agent.example")
    settings = dataclasses.replace(settings, jobs=dataclasses.replace(settings.jobs, run_in_process=False))
    ticket_id, headers = await _staff_reply(make_client, settings, pool, shop)
    addresses = reply_addresses(settings)
    assert addresses is not None
    assert headers["Reply-To"] == addresses.for_ticket(ticket_id)
    assert addresses.ticket_of(headers["Reply-To"]) == ticket_id


async def test_with_inbound_off_a_staff_reply_answers_to_the_support_address(
        make_client: MakeClient, portal_settings: Settings, pool: asyncpg.Pool, shop: Shop) -> None:
    await pool.execute("UPDATE businesses SET support_email = 'help@bakery.example' WHERE id = $1", shop.business_id)
    assert reply_addresses(portal_settings) is None
    _, headers = await _staff_reply(make_client, portal_settings, pool, shop)
    assert headers["Reply-To"] == "help@bakery.example"
