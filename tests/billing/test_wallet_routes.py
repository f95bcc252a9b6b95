"""GET /api/wallet/balance and /api/wallet/transactions: snapshots, pagination, filters, tenancy."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import Any, cast

import asyncpg
import pytest

from billing import holds, ledger
from billing.errors import InsufficientFunds
from billing.ledger import EntryKind
from billing.money import MAX_AMOUNT, Currency, Money
from tests.billing.conftest import Client
from tests.conftest import MakeBusiness, Tenant

USD = Currency.USD


async def get(client: Client, path: str, tenant: Tenant, status: int = 200, **params: Any) -> dict[str, Any]:
    response = await client.get(path, params={k: str(v) for k, v in params.items()}, headers=tenant.headers)
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def post(pool: asyncpg.Pool, tenant: Tenant, amount: int, key: str, kind: EntryKind = EntryKind.ADJUSTMENT,
               currency: Currency = USD) -> ledger.Entry:
    return await ledger.post_entry(pool, business_id=tenant.business_id, amount=Money(amount, currency), kind=kind,
                                   idempotency_key=key, reference=key, actor="test")


async def test_balance_of_an_unused_wallet_is_zero(app_client: Client, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    body = await get(app_client, "/api/wallet/balance", tenant, currency="INR")
    assert body == {"businessId": str(tenant.business_id), "currency": "INR", "balance": 0, "held": 0,
                    "available": 0, "updated_at": None}


async def test_balance_shows_holds(app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    await post(pool, tenant, 1000, "a")
    await holds.place_hold(pool, business_id=tenant.business_id, amount=Money(250, USD), idempotency_key="h",
                           reference="call:CA1", expires_at=datetime.datetime.now(datetime.UTC))
    body = await get(app_client, "/api/wallet/balance", tenant, currency="usd")
    assert (body["balance"], body["held"], body["available"], body["currency"]) == (1000, 250, 750, "USD")
    assert datetime.datetime.fromisoformat(body["updated_at"]).tzinfo is not None


@pytest.mark.parametrize("amount", [1, MAX_AMOUNT])
async def test_amounts_at_bounds_round_trip_through_json(app_client: Client, make_business: MakeBusiness,
                                                         pool: asyncpg.Pool, amount: int) -> None:
    """Property 6: 0 (empty wallet, above), 1 and the maximum come back unchanged, as JSON integers."""
    tenant = await make_business()
    await post(pool, tenant, amount, "a")
    balance = await get(app_client, "/api/wallet/balance", tenant)
    listed = await get(app_client, "/api/wallet/transactions", tenant)
    assert balance["balance"] == balance["available"] == amount
    assert listed["transactions"][0]["amount"] == amount and isinstance(listed["transactions"][0]["amount"], int)


async def test_balance_is_one_snapshot_under_concurrent_writes(app_client: Client, make_business: MakeBusiness,
                                                               pool: asyncpg.Pool) -> None:
    """Property 13: while holds and debits run, every response satisfies balance − held == available ≥ 0."""
    tenant = await make_business()
    await post(pool, tenant, 5000, "seed")
    stop = asyncio.Event()

    async def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                hold = await holds.place_hold(pool, business_id=tenant.business_id, amount=Money(40, USD),
                                              idempotency_key=f"w{n}:{i}", reference="call",
                                              expires_at=datetime.datetime.now(datetime.UTC))
                await holds.settle(pool, hold.id, amount=Money(7, USD), kind=EntryKind.CALL_USAGE,
                                   idempotency_key=f"w{n}:{i}:s", actor="t")
            except InsufficientFunds:
                return

    writers = [asyncio.create_task(writer(n)) for n in range(3)]
    seen = []
    for _ in range(60):
        body = await get(app_client, "/api/wallet/balance", tenant)
        seen.append(body)
        assert body["balance"] - body["held"] == body["available"] >= 0
    stop.set()
    await asyncio.gather(*writers)
    assert len({(b["balance"], b["held"]) for b in seen}) > 1, "the reads should have seen writes happen"


async def test_transactions_paginate_newest_first_without_gaps(app_client: Client, make_business: MakeBusiness,
                                                               pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    created = [await post(pool, tenant, 100 + i, f"e{i}") for i in range(23)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        body = await get(app_client, "/api/wallet/transactions", tenant, **params)
        seen += [t["id"] for t in body["transactions"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [str(e.id) for e in reversed(created)]


async def test_transactions_filter_by_type_and_time(app_client: Client, make_business: MakeBusiness,
                                                    pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    await post(pool, tenant, 1000, "t", EntryKind.TOPUP)
    await post(pool, tenant, -10, "s", EntryKind.SMS_USAGE)
    await post(pool, tenant, -20, "c", EntryKind.CHAT_USAGE)
    body = await get(app_client, "/api/wallet/transactions", tenant, type="sms_usage,chat_usage")
    assert [t["type"] for t in body["transactions"]] == ["chat_usage", "sms_usage"]
    future = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).isoformat()
    assert (await get(app_client, "/api/wallet/transactions", tenant, **cast(dict[str, Any], {"from": future})))["transactions"] == []
    assert len((await get(app_client, "/api/wallet/transactions", tenant, to=future))["transactions"]) == 3
    assert len((await get(app_client, "/api/wallet/transactions", tenant, **cast(dict[str, Any], {"from": "2000-01-01"})))
               ["transactions"]) == 3


BAD_QUERIES: list[tuple[dict[str, Any], str]] = [
    ({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"limit": "ten"}, "limit"),
    ({"cursor": "bogus"}, "cursor"), ({"type": "gift"}, "type"), ({"from": "last week"}, "from"),
    ({"currency": "EUR"}, "currency"),
]


async def test_transactions_refuse_bad_parameters(app_client: Client, make_business: MakeBusiness) -> None:
    """Each bad query parameter is a 422 naming it (all cases on one app, to keep the run short)."""
    tenant = await make_business()
    for params, field in BAD_QUERIES:
        body = await get(app_client, "/api/wallet/transactions", tenant, status=422, **params)
        assert (body["error"]["code"], body["error"]["field"]) == ("VALIDATION_ERROR", field), params


async def test_another_business_member_cannot_read_this_wallet(app_client: Client, make_business: MakeBusiness,
                                                               pool: asyncpg.Pool) -> None:
    """Property 14: B's member gets 404 on A's wallet and ledger, the same as for a business that doesn't exist."""
    a, b = await make_business("A"), await make_business("B")
    await post(pool, a, 1000, "a")
    for path in ("/api/wallet/balance", "/api/wallet/transactions"):
        for business_id in (a.business_id, uuid.uuid4(), "not-a-uuid"):
            body = await get(app_client, path, b, status=404, businessId=business_id)
            assert body["error"]["code"] == "NOT_FOUND"
        own = await get(app_client, path, b)
        assert own.get("balance", 0) == 0 and own.get("transactions", []) == []
    for path in ("/api/wallet/balance", "/api/wallet/transactions"):
        assert (await app_client.get(path)).status == 401
