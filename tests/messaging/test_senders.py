"""Which number texts a person: the one they last talked to, else one with their area code, else the least busy."""

from __future__ import annotations

import datetime
import itertools
import uuid

import asyncpg
import pytest

from billing.money import Currency
from conversations import records
from messaging import campaigns, contacts, senders
from messaging.campaign_start import start
from messaging.config import SmsConfig
from messaging.errors import NumberNotSmsCapable
from phone_numbers import registry
from tests.conftest import MakeBusiness, fund_wallet

SF, NYC, NYC_2 = "+14155550100", "+12125550100", "+12125550111"
PERSON_NYC, PERSON_MIAMI = "+12125550199", "+13055550199"
_sids = itertools.count(1)


async def numbers(pool: asyncpg.Pool, business_id: uuid.UUID, *phones: str) -> dict[str, uuid.UUID]:
    return {phone: await registry.add_number(pool, business_id, phone) for phone in phones}


async def inbound(pool: asyncpg.Pool, business_id: uuid.UUID, number_id: uuid.UUID, sender: str, to: str) -> None:
    await records.insert_inbound_sms(pool, business_id=business_id, number_id=number_id, agent_id=None,
                                     message_sid=f"SM{next(_sids):032x}", sender=sender, our_number=to, body="hi")


async def outbound(pool: asyncpg.Pool, business_id: uuid.UUID, number_id: uuid.UUID, from_number: str, to: str,
                   status: str = "delivered") -> None:
    await pool.execute(
        "INSERT INTO sms_outbox (business_id, number_id, from_number, to_phone, body, category, segments, encoding,"
        " status, idempotency_key) VALUES ($1, $2, $3, $4, 'hi', 'transactional', 1, 'GSM-7', $5, $6)",
        business_id, number_id, from_number, to, status, uuid.uuid4().hex)


async def chosen(pool: asyncpg.Pool, business_id: uuid.UUID, to: str, **kwargs: object) -> str:
    return (await senders.choose(pool, business_id, to, **kwargs)).phone_number


@pytest.fixture
async def business(pool: asyncpg.Pool, make_business: MakeBusiness) -> uuid.UUID:
    return (await make_business("Texting Co")).business_id


async def test_the_number_the_person_last_texted_wins_over_their_area_code(pool: asyncpg.Pool,
                                                                           business: uuid.UUID) -> None:
    ids = await numbers(pool, business, SF, NYC)
    assert await chosen(pool, business, PERSON_NYC) == NYC, "no history: the local number"
    await inbound(pool, business, ids[SF], PERSON_NYC, SF)
    assert await chosen(pool, business, PERSON_NYC) == SF, "they texted the San Francisco number"


async def test_the_latest_conversation_either_way_decides(pool: asyncpg.Pool, business: uuid.UUID) -> None:
    ids = await numbers(pool, business, SF, NYC, NYC_2)
    await inbound(pool, business, ids[SF], PERSON_MIAMI, SF)
    await outbound(pool, business, ids[NYC_2], NYC_2, PERSON_MIAMI)
    assert await chosen(pool, business, PERSON_MIAMI) == NYC_2, "our last text to them came from NYC_2"
    await outbound(pool, business, ids[NYC], NYC, PERSON_MIAMI, status="canceled")
    assert await chosen(pool, business, PERSON_MIAMI) == NYC_2, "a canceled text never reached them"
    await inbound(pool, business, ids[SF], PERSON_MIAMI, SF)
    assert await chosen(pool, business, PERSON_MIAMI) == SF


async def test_without_history_or_a_local_number_the_least_busy_number_sends(pool: asyncpg.Pool,
                                                                             business: uuid.UUID) -> None:
    ids = await numbers(pool, business, SF, NYC)
    assert await chosen(pool, business, PERSON_MIAMI) == NYC, "all idle: the first by number"
    await pool.execute("INSERT INTO sms_pacing (number_id, tat_us) VALUES ($1, 9000000000000000), ($2, 100)",
                       ids[NYC], ids[SF])
    assert await chosen(pool, business, PERSON_MIAMI) == SF
    await pool.execute("UPDATE sms_pacing SET tat_us = 9100000000000000 WHERE number_id = $1", ids[SF])
    assert await chosen(pool, business, PERSON_MIAMI) == NYC


async def test_only_allowed_live_texting_numbers_are_candidates(pool: asyncpg.Pool, business: uuid.UUID) -> None:
    ids = await numbers(pool, business, SF, NYC, NYC_2)
    await inbound(pool, business, ids[SF], PERSON_NYC, SF)
    assert await chosen(pool, business, PERSON_NYC, allowed=[ids[NYC], ids[NYC_2]]) == NYC, \
        "the sticky number is not one of the campaign's: the local one"
    await pool.execute("UPDATE business_numbers SET capabilities = '{\"voice\": true, \"sms\": false}' WHERE id = $1",
                       ids[NYC])
    await pool.execute("UPDATE business_numbers SET status = 'released' WHERE id = $1", ids[SF])
    assert await chosen(pool, business, PERSON_NYC) == NYC_2
    with pytest.raises(NumberNotSmsCapable):
        await senders.choose(pool, business, PERSON_NYC, allowed=[ids[NYC], ids[SF]])


async def test_a_campaign_start_spreads_its_texts_over_its_numbers(pool: asyncpg.Pool, business: uuid.UUID) -> None:
    """A start queues every text before any is sent, so no number's pace has moved: what it queued so far decides."""
    await fund_wallet(pool, business)
    ids = await numbers(pool, business, NYC, NYC_2, SF)
    people = [f"+1212555{n:04d}" for n in range(1, 7)] + [f"+1305555{n:04d}" for n in range(1, 4)]
    for phone in people:
        await contacts.create(pool, business, contacts.NewContact(phone, first_name="Al"))
    campaign = await campaigns.create(pool, business, campaigns.NewCampaign(
        "Spread", "Hi", campaigns.Audience(tags=[], phones=people), "transactional"))
    await start(pool, business, campaign.id, SmsConfig(), Currency.USD, now=datetime.datetime.now(datetime.UTC))
    rows = await pool.fetch("SELECT from_number, count(*) AS n FROM sms_outbox GROUP BY from_number")
    assert {r["from_number"]: r["n"] for r in rows} == {NYC: 3, NYC_2: 3, SF: 3}, \
        "New York's six from both New York numbers in turn; Miami's three from the one with the fewest queued"
    assert set(ids) == {NYC, NYC_2, SF}


async def test_a_campaign_start_spreads_each_numbers_texts_over_its_pace(pool: asyncpg.Pool,
                                                                        business: uuid.UUID) -> None:
    """Queued in the order they will go: a long code's texts a second apart per segment, a toll-free's a third."""
    await fund_wallet(pool, business)
    await numbers(pool, business, NYC)
    toll_free = "+18005550100"
    await registry.add_number(pool, business, toll_free)
    await pool.execute("UPDATE business_numbers SET number_type = 'toll_free' WHERE phone_number = $1", toll_free)
    long_text = "x" * 200
    people = [f"+1212555{n:04d}" for n in range(1, 4)] + [f"+1305555{n:04d}" for n in range(1, 4)]
    for phone in people:
        await contacts.create(pool, business, contacts.NewContact(phone, first_name="Al"))
    campaign = await campaigns.create(pool, business, campaigns.NewCampaign(
        "Paced", long_text, campaigns.Audience(tags=[], phones=people), "transactional"))
    now = datetime.datetime.now(datetime.UTC)
    await start(pool, business, campaign.id, SmsConfig(), Currency.USD, now=now)
    rows = await pool.fetch("SELECT from_number, segments, not_before FROM sms_outbox ORDER BY not_before")
    offsets: dict[str, list[float]] = {}
    for r in rows:
        assert r["segments"] == 2
        offsets.setdefault(r["from_number"], []).append((r["not_before"] - now).total_seconds())
    assert offsets == {NYC: [0.0, 2.0, 4.0], toll_free: [0.0, pytest.approx(2 / 3), pytest.approx(4 / 3)]}
