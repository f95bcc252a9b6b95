"""Replies paid per use, and the usage report the dashboard reads."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from billing import ledger, usage
from billing.errors import InsufficientFunds
from billing.ledger import EntryKind
from billing.money import Currency, Money
from tests.conftest import MakeBusiness


async def fund(pool: asyncpg.Pool, business_id: uuid.UUID, amount: int) -> None:
    await ledger.credit(pool, business_id=business_id, amount=Money(amount, Currency.USD), kind=EntryKind.TOPUP,
                        idempotency_key=f"seed:{uuid.uuid4()}", reference="seed", actor="test")


async def test_concurrent_replies_on_a_wallet_for_one_reserve_once(pool: asyncpg.Pool,
                                                                   make_business: MakeBusiness) -> None:
    tenant = await make_business()
    await fund(pool, tenant.business_id, 5)

    async def reply(i: int) -> bool:
        try:
            res = await usage.reserve(pool, business_id=tenant.business_id, amount=Money(5, Currency.USD),
                                      key=f"sms:SM{i}", reference=f"sms:SM{i}")
        except InsufficientFunds:
            return False
        await usage.charge(pool, res, cost=5, kind=EntryKind.SMS_USAGE, key=f"sms:SM{i}")
        return True

    results = await asyncio.gather(*(reply(i) for i in range(6)))
    assert results.count(True) == 1
    wallet = await ledger.get_wallet(pool, tenant.business_id, Currency.USD)
    assert wallet is not None and wallet.balance == 0 and wallet.held == 0


async def test_a_cancelled_reply_costs_nothing(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    await fund(pool, tenant.business_id, 100)
    res = await usage.reserve(pool, business_id=tenant.business_id, amount=Money(40, Currency.USD),
                              key="chat:m1", reference="chat:m1")
    await usage.cancel(pool, res)
    wallet = await ledger.get_wallet(pool, tenant.business_id, Currency.USD)
    assert wallet is not None and (wallet.balance, wallet.held) == (100, 0)


async def test_a_reply_costing_more_than_reserved_is_charged_only_what_the_wallet_can_pay(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    await fund(pool, tenant.business_id, 10)
    res = await usage.reserve(pool, business_id=tenant.business_id, amount=Money(4, Currency.USD),
                              key="chat:m2", reference="chat:m2")
    charged = await usage.charge(pool, res, cost=25, kind=EntryKind.CHAT_USAGE, key="chat:m2")
    assert charged == 10
    wallet = await ledger.get_wallet(pool, tenant.business_id, Currency.USD)
    assert wallet is not None and wallet.available == 0


async def test_usage_report_totals_per_kind_and_day(app_client: TestClient, pool: asyncpg.Pool,  # type: ignore[type-arg]
                                                    make_business: MakeBusiness) -> None:
    tenant = await make_business()
    other = await make_business()
    await fund(pool, tenant.business_id, 1000)
    await fund(pool, other.business_id, 1000)
    for business, key, kind, amount in ((tenant.business_id, "a", EntryKind.SMS_USAGE, 2),
                                        (tenant.business_id, "b", EntryKind.SMS_USAGE, 3),
                                        (tenant.business_id, "c", EntryKind.CHAT_USAGE, 7),
                                        (other.business_id, "d", EntryKind.SMS_USAGE, 100)):
        await ledger.debit(pool, business_id=business, amount=Money(amount, Currency.USD), kind=kind,
                           idempotency_key=key, reference=key, actor="test")
    resp = await app_client.get("/api/usage?group=day", headers=tenant.headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["totals"]["USD"]["sms_usage"] == 5 and body["totals"]["USD"]["chat_usage"] == 7
    assert len(body["periods"]) == 1 and body["periods"][0]["sms_usage"] == 5


@pytest.mark.parametrize(("query", "field"), [("group=hour", "group"), ("from=yesterday", "from"),
                                              ("from=2026-02-01&to=2026-01-01", "from")])
async def test_usage_report_refuses_bad_ranges(app_client: TestClient, make_business: MakeBusiness,  # type: ignore[type-arg]
                                               query: str, field: str) -> None:
    tenant = await make_business()
    resp = await app_client.get(f"/api/usage?{query}", headers=tenant.headers)
    assert resp.status == 422 and (await resp.json())["error"]["field"] == field


async def test_set_prices_cli_overrides_one_price(database_url: str, make_business: MakeBusiness,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from agent_server.cli import main

    tenant = await make_business()
    monkeypatch.setenv("DATABASE_URL", database_url)
    code = await asyncio.get_running_loop().run_in_executor(None, lambda: main(
        ["business", "set-prices", "--business", str(tenant.business_id), "--sms", "7", "--json"]))
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["sms"] == 7 and out["voicePerMinute"] == 12
