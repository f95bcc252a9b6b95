"""`GET /api/wallet/statement`: a seeded month reproduces hand-computed totals, CSV and JSON agree,
closing = opening + Σ lines, months follow the business's timezone, texts count in segments and chat in
tokens where recorded, top-ups carry Stripe's receipt, a month not over is partial, another business's month
is 404."""

from __future__ import annotations

import csv
import datetime
import io
import uuid

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from billing import accounts
from tests.billing.conftest import Client as StripeClient
from tests.billing.conftest import deliver
from tests.billing.test_payment_routes import start_topup
from tests.conftest import MakeBusiness
from tests.fake_stripe import FakeStripe

Client = TestClient[web.Request, web.Application]


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC)


# (when, kind, amount, reference): September is history, October the seeded month, 1 November the next.
HISTORY = [
    ("2026-09-20T10:00:00", "topup", 5000, "stripe:checkout_session:cs_sep"),
    ("2026-09-25T10:00:00", "call_usage", -300, "call:CA0"),
    ("2026-10-01T00:00:00", "topup", 2000, "stripe:checkout_session:cs_oct"),
    ("2026-10-03T09:00:00", "call_usage", -60, "call:CA1"),
    ("2026-10-03T09:01:00", "call_usage", -84, "call:CA1"),
    ("2026-10-05T12:00:00", "call_usage", -30, "call:CA2"),
    ("2026-10-06T08:00:00", "sms_usage", -2, "sms:SM1"),
    ("2026-10-06T08:05:00", "sms_usage", -2, "sms:SM2"),
    ("2026-10-06T08:10:00", "sms_usage", -2, "sms:SM3"),
    ("2026-10-07T15:00:00", "chat_usage", -1, "chat:m1"),
    ("2026-10-10T00:00:00", "number_rent", -100, "number_rent:PN1:2026-10"),
    ("2026-10-12T11:00:00", "refund", -500, "stripe:charge:ch_oct"),
    ("2026-10-15T11:00:00", "dispute_hold", -1000, "stripe:dispute:dp_1"),
    ("2026-10-20T11:00:00", "dispute_release", 1000, "stripe:dispute:dp_1"),
    ("2026-10-21T11:00:00", "dispute_hold", -200, "stripe:dispute:dp_2"),
    ("2026-10-28T11:00:00", "dispute_fee", -1500, "stripe:dispute:dp_2"),
    ("2026-10-25T11:00:00", "adjustment", 50, "goodwill"),
    ("2026-10-31T23:59:59", "sms_usage", -2, "sms:SM4"),
    ("2026-11-01T00:00:00", "topup", 999, "stripe:checkout_session:cs_nov"),
]
# Billed seconds of the calls (their meters): CA1 72 s (144 cents at 120/min), CA2 15 s.
METERS = {"CA0": 150, "CA1": 72, "CA2": 15}
# What some entries recorded they paid for (usage_details): SM4 was a text of 2 segments sent
# from the outbox, m1 a chat reply of 1,234 tokens; SM1-SM3 are replies from before quantities were kept.
DETAILS = {"sms:SM4": (2, "segments"), "chat:m1": (1234, "tokens")}
RECEIPT = "https://pay.stripe.com/receipts/payment/ch_oct"


async def seed(pool: asyncpg.Pool, business: uuid.UUID) -> None:
    """Both sides of every entry at its own past time (the ledger itself always writes now())."""
    async with pool.acquire() as conn, conn.transaction():
        wallet = await conn.fetchval("INSERT INTO wallets (business_id, currency) VALUES ($1, 'USD') RETURNING id",
                                     business)
        for n, (when, kind, amount, reference) in enumerate(HISTORY):
            after = await conn.fetchval("UPDATE wallets SET balance = balance + $2 WHERE id = $1 RETURNING balance",
                                        wallet, amount)
            entry = await conn.fetchval(
                "INSERT INTO ledger_entries (wallet_id, amount, kind, reference, actor, idempotency_key, fingerprint,"
                " balance_after, created_at) VALUES ($1, $2, $3, $4, 'seed', $5, 'f', $6, $7) RETURNING id",
                wallet, amount, kind, reference, f"seed:{business}:{n}", after, at(when))
            await conn.execute("INSERT INTO platform_entries (entry_id, account, currency, amount)"
                               " VALUES ($1, $2, 'USD', $3)", entry, accounts.counter_account(kind).value, -amount)
            if reference in DETAILS:
                await conn.execute("INSERT INTO usage_details (entry_id, quantity, unit) VALUES ($1, $2, $3)",
                                   entry, *DETAILS[reference])
        await conn.execute("INSERT INTO topups (checkout_session_id, business_id, amount, currency, status,"
                           " payment_intent, created_by) VALUES ('cs_oct', $1, 2000, 'USD', 'paid', $2, 'seed')",
                           business, f"pi_oct_{business.hex}")
        await conn.execute("INSERT INTO charge_receipts (payment_intent, charge_id, receipt_url) VALUES ($1, 'ch_oct', $2)",
                           f"pi_oct_{business.hex}", RECEIPT)
        for sid, seconds in METERS.items():
            await conn.execute(
                "INSERT INTO call_meters (call_sid, business_id, currency, per_minute, granted_seconds,"
                " charged_seconds, status, settled_seconds) VALUES ($1, $2, 'USD', 120, $3, $3, 'settled', $3)",
                sid, business, seconds)


async def test_a_seeded_month_reproduces_the_hand_computed_totals(
        app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    await seed(pool, tenant.business_id)
    got = await app_client.get("/api/wallet/statement", params={"month": "2026-10"}, headers=tenant.headers)
    assert got.status == 200, await got.text()
    body = await got.json()
    assert (body["month"], body["currency"], body["timezone"], body["partial"]) == ("2026-10", "USD", "UTC", False)
    assert body["periodStart"] == "2026-10-01T00:00:00+00:00" and body["periodEnd"] == "2026-11-01T00:00:00+00:00"
    assert body["openingBalance"] == 5000 - 300
    assert [(t["amount"], t["reference"], t["receiptUrl"]) for t in body["topups"]] == [
        (2000, "stripe:checkout_session:cs_oct", RECEIPT)]
    assert body["usage"] == [
        {"product": "call", "amount": -174, "entries": 3, "quantity": 72 + 15, "unit": "seconds"},
        {"product": "sms", "amount": -6, "entries": 3, "quantity": 3, "unit": "replies"},
        {"product": "sms", "amount": -2, "entries": 1, "quantity": 2, "unit": "segments"},
        {"product": "chat", "amount": -1, "entries": 1, "quantity": 1234, "unit": "tokens"},
        {"product": "number_rent", "amount": -100, "entries": 1, "quantity": 1, "unit": "months"}]
    assert body["refunds"] == {"amount": -500, "entries": 1}
    assert body["disputes"] == {"amount": -1000 + 1000 - 200 - 1500, "entries": 4}
    assert body["adjustments"] == {"amount": 50, "entries": 1}
    # 4700 + 2000 - 174 - 8 - 1 - 100 - 500 - 1700 + 50
    assert body["closingBalance"] == 4267

    as_csv = await app_client.get("/api/wallet/statement", params={"month": "2026-10"},
                                  headers={**tenant.headers, "Accept": "text/csv"})
    assert as_csv.status == 200 and as_csv.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await as_csv.text())))
    assert (rows[0]["section"], int(rows[0]["amount"])) == ("opening", body["openingBalance"])
    assert (rows[-1]["section"], int(rows[-1]["amount"])) == ("closing", body["closingBalance"])
    lines = rows[1:-1]
    assert sum(int(r["amount"]) for r in lines) == body["closingBalance"] - body["openingBalance"]
    assert [(r["item"], r["unit"], int(r["quantity"]), int(r["amount"])) for r in lines if r["section"] == "usage"] == [
        (u["product"], u["unit"], u["quantity"], u["amount"]) for u in body["usage"]]
    assert [int(r["amount"]) for r in lines if r["section"] == "topup"] == [t["amount"] for t in body["topups"]]
    for section in ("refunds", "disputes", "adjustments"):
        [row] = [r for r in lines if r["section"] == section]
        assert (int(row["amount"]), int(row["entries"])) == (body[section]["amount"], body[section]["entries"])


async def test_months_chain_and_the_current_month_is_partial(
        app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    await seed(pool, tenant.business_id)

    async def month(name: str) -> dict[str, object]:
        got = await app_client.get("/api/wallet/statement", params={"month": name}, headers=tenant.headers)
        assert got.status == 200, await got.text()
        body: dict[str, object] = await got.json()
        return body

    september, october, november = await month("2026-09"), await month("2026-10"), await month("2026-11")
    assert (september["openingBalance"], september["closingBalance"]) == (0, 4700)
    assert october["openingBalance"] == 4700 and november["openingBalance"] == october["closingBalance"] == 4267
    assert november["closingBalance"] == 4267 + 999
    now = datetime.datetime.now(datetime.UTC)
    current = await month(f"{now:%Y-%m}")
    assert current["partial"] is True and current["openingBalance"] == 4267 + 999


async def test_bad_months_are_422_and_another_business_is_404(
        app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    owner, stranger = await make_business(), await make_business("Other")
    await seed(pool, owner.business_id)
    for bad in ("2026-13", "2026-1", "october", "2999-01"):
        got = await app_client.get("/api/wallet/statement", params={"month": bad}, headers=owner.headers)
        assert got.status == 422, bad
    missing = await app_client.get("/api/wallet/statement", headers=owner.headers)
    assert missing.status == 422
    got = await app_client.get("/api/wallet/statement", params={"month": "2026-10", "businessId": str(owner.business_id)},
                               headers=stranger.headers)
    assert got.status == 404
    assert (await got.json())["error"]["code"] == "NOT_FOUND"


async def test_months_are_the_business_s_own(app_client: Client, make_business: MakeBusiness,
                                             pool: asyncpg.Pool) -> None:
    """In New York (UTC-4 in October) the top-up of 1 October 00:00 UTC is September's, and the one of
    1 November 00:00 UTC (still 31 October there) is October's; the SMS at 23:59:59 UTC stays in October."""
    tenant = await make_business()
    await seed(pool, tenant.business_id)
    await pool.execute("UPDATE businesses SET timezone = 'America/New_York' WHERE id = $1", tenant.business_id)
    got = await app_client.get("/api/wallet/statement", params={"month": "2026-10"}, headers=tenant.headers)
    body = await got.json()
    assert (body["timezone"], body["periodStart"], body["periodEnd"]) == (
        "America/New_York", "2026-10-01T00:00:00-04:00", "2026-11-01T00:00:00-04:00")
    assert body["openingBalance"] == 4700 + 2000
    assert [(t["amount"], t["reference"]) for t in body["topups"]] == [(999, "stripe:checkout_session:cs_nov")]
    assert [u["quantity"] for u in body["usage"] if u["product"] == "sms"] == [3, 2]
    assert body["closingBalance"] == 4267 + 999
    september = await (await app_client.get("/api/wallet/statement", params={"month": "2026-09"},
                                            headers=tenant.headers)).json()
    assert (september["closingBalance"], [t["amount"] for t in september["topups"]]) == (6700, [5000, 2000])


async def test_a_top_up_shows_its_receipt_whichever_event_came_first(
        stripe_client: StripeClient, fake_stripe: tuple[FakeStripe, str], make_business: MakeBusiness) -> None:
    fake, _ = fake_stripe
    tenant = await make_business()
    first = (await start_topup(stripe_client, tenant, 1000))["sessionId"]
    second = (await start_topup(stripe_client, tenant, 700))["sessionId"]
    completed = fake.complete_session(first)
    for event in (fake.charge_succeeded(first), completed, completed):  # the receipt before the credit, then again
        assert (await deliver(stripe_client, event)).status == 200
    await deliver(stripe_client, fake.complete_session(second))
    await deliver(stripe_client, fake.charge_succeeded(second))
    now = datetime.datetime.now(datetime.UTC)
    got = await stripe_client.get("/api/wallet/statement", params={"month": f"{now:%Y-%m}"}, headers=tenant.headers)
    body = await got.json()
    assert [(t["amount"], t["receiptUrl"]) for t in body["topups"]] == [
        (1000, fake.charge_of(first)["receipt_url"]), (700, fake.charge_of(second)["receipt_url"])]
