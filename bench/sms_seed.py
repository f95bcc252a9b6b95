"""What the SMS bench's scenarios start from: funded businesses, sending numbers, contacts, outbox rows, a contacts CSV.

Rows the scenarios only read are written in bulk here (one statement per table) rather than
through the API, so seeding takes seconds, not the minutes 15,000 single sends would; what a
scenario measures (campaign texts, the dispatcher, callbacks, an import) goes through the
production code paths.
"""

from __future__ import annotations

import datetime
import secrets
import uuid

import asyncpg

from agent_server import tenants
from billing import ledger
from billing.ledger import EntryKind
from billing.money import Currency, Money
from messaging import campaigns
from messaging.campaign_audience import Audience

AREAS = (212, 213, 312, 415, 503, 617, 646, 702, 718, 917)
FUNDS = 10**12


def phone(n: int) -> str:
    """The `n`th of 1,000,000 valid US phones (10 area codes x 100 exchanges x 10,000 lines)."""
    area, rest = AREAS[n % len(AREAS)], n // len(AREAS)
    return f"+1{area}{200 + rest // 10_000}{rest % 10_000:04d}"


def sender(n: int) -> str:
    """The `n`th sending number (long codes in 415-55x, apart from the recipients' exchanges)."""
    return f"+1415{550 + n // 10_000}{n % 10_000:04d}"


async def business(pool: asyncpg.Pool, name: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A business with an owner and a wallet that never runs out; returns (business, user)."""
    business_id = await tenants.create_business(pool, name)
    user_id = await tenants.create_user(pool, f"owner-{uuid.uuid4().hex[:8]}@bench.example")
    await tenants.add_member(pool, business_id, user_id, "owner")
    await ledger.credit(pool, business_id=business_id, amount=Money(FUNDS, Currency.USD), kind=EntryKind.TOPUP,
                        idempotency_key=f"bench:{business_id}", reference="bench", actor="bench")
    return business_id, user_id


async def numbers(pool: asyncpg.Pool, business_id: uuid.UUID, phones: list[str]) -> list[uuid.UUID]:
    """Long-code numbers of the business (SMS-capable, active), in the order given."""
    rows = await pool.fetch(
        "INSERT INTO business_numbers (business_id, phone_number) SELECT $1, unnest($2::text[]) RETURNING id,"
        " phone_number", business_id, phones)
    by_phone = {r["phone_number"]: r["id"] for r in rows}
    return [by_phone[p] for p in phones]


async def campaign(pool: asyncpg.Pool, business_id: uuid.UUID, number_ids: list[uuid.UUID], first: int,
                   count: int, tag: str) -> uuid.UUID:
    """`count` contacts with consent tagged `tag`, and a transactional draft campaign to them from those numbers."""
    now = datetime.datetime.now(datetime.UTC)
    await pool.executemany(
        "INSERT INTO contacts (business_id, phone, first_name, tags, consent_source, consent_at)"
        " VALUES ($1, $2, $3, $4, 'bench', $5)",
        [(business_id, phone(n), f"Guest{n}", [tag], now) for n in range(first, first + count)])
    created = await campaigns.create(pool, business_id, campaigns.NewCampaign(
        f"Bench {tag}", "Hi {{firstName}}, your table for Friday is confirmed. Reply STOP to opt out.",
        Audience(tags=[tag]), "transactional", from_number_ids=number_ids))
    return created.id


async def queued_texts(pool: asyncpg.Pool, business_id: uuid.UUID, senders: list[tuple[uuid.UUID, str]],
                       per_number: int) -> int:
    """`per_number` one-segment transactional texts queued on each 1 MPS sender as a campaign's start queues them.

    Interleaved (round robin), each number's a second apart (`messaging.campaign_start`).
    Each body is unique, so a duplicate at Twilio shows as a repeated body.
    """
    now = datetime.datetime.now(datetime.UTC)
    rows = []
    for k in range(per_number * len(senders)):
        number_id, from_number = senders[k % len(senders)]
        rows.append((business_id, number_id, from_number, phone(k), f"Paced text {k}", f"paced:{k}",
                     now + datetime.timedelta(seconds=k // len(senders)), now + datetime.timedelta(microseconds=k)))
    await pool.executemany(
        "INSERT INTO sms_outbox (business_id, number_id, from_number, to_phone, body, category, segments, encoding,"
        " idempotency_key, not_before, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, 'transactional', 1, 'GSM-7', $6, $7, $8, $8)", rows)
    return len(rows)


async def sent_texts(pool: asyncpg.Pool, business_id: uuid.UUID, number: tuple[uuid.UUID, str],
                     count: int) -> list[tuple[uuid.UUID, str, str]]:
    """`count` texts Twilio has taken (sid stored, paid) and not yet reported on: (id, sid, to) each."""
    now = datetime.datetime.now(datetime.UTC)
    rows = [(uuid.uuid4(), f"SM{secrets.token_hex(16)}", phone(n)) for n in range(count)]
    await pool.executemany(
        "INSERT INTO sms_outbox (id, business_id, number_id, from_number, to_phone, body, category, segments,"
        " encoding, status, idempotency_key, attempts, send_started_at, message_sid, price_minor, currency,"
        " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'Your order shipped', 'transactional', 1, 'GSM-7',"
        " 'sending', $8, 1, $6, $7, 1, 'USD', $6, $6)",
        [(i, business_id, number[0], number[1], to, now, sid, str(i)) for i, sid, to in rows])
    return rows


def contacts_csv(rows: int) -> bytes:
    """A spreadsheet export of `rows` contacts: a header, five columns, 1% repeated phones, 0.5% invalid ones."""
    lines = ["Phone,First Name,Last Name,Email,Tags"]
    for n in range(rows):
        number = phone(n - 1 if n % 100 == 99 else n)
        if n % 200 == 7:
            number = "555-01"
        lines.append(f"{number},Guest{n},Family{n % 977},guest{n}@example.com,\"vip,spring\"")
    return ("\n".join(lines) + "\n").encode()
