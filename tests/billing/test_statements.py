"""`GET /api/wallet/statement`: a seeded month reproduces hand-computed totals, CSV and JSON agree,
closing = opening + Σ lines, a month not over is partial, another business's month is 404."""

from __future__ import annotations

import csv
import datetime
import io
import uuid

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from billing import accounts
from tests.conftest import MakeBusiness

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
        (2000, "stripe:checkout_session:cs_oct", None)]
    assert body["usage"] == [
        {"product": "call", "amount": -174, "entries": 3, "quantity": 72 + 15, "unit": "seconds"},
        {"product": "sms", "amount": -8, "entries": 4, "quantity": 4, "unit": "replies"},
        {"product": "chat", "amount": -1, "entries": 1, "quantity": 1, "unit": "replies"},
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
    assert {r["item"]: int(r["amount"]) for r in lines if r["section"] == "usage"} == {
        u["product"]: u["amount"] for u in body["usage"]}
    assert {r["item"]: int(r["quantity"]) for r in lines if r["section"] == "usage"} == {
        u["product"]: u["quantity"] for u in body["usage"]}
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
