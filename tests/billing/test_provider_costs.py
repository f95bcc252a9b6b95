"""Provider cost beside revenue: each usage entry records what it cost the platform from the price table (integer
micros, estimated ones flagged), and `agent-server books report` shows revenue, cost and margin per product."""

from __future__ import annotations

import asyncio
import csv
import datetime
import io
import uuid

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_server.cli import main
from agent_server.config import ConfigError, settings_from
from agent_server.reply_billing import WalletReplyPayment
from billing import call_meter, ledger
from billing.config import BillingConfig
from billing.cost_config import ProviderCostsConfig
from billing.ledger import EntryKind
from billing.money import Currency, Money
from billing.pricing import Prices, chat_charge, voice_charge
from billing.provider_costs import Cost, call_cost, call_per_minute, number_cost, reply_cost, sms_cost
from billing.usage_details import Unit, UsageDetail
from tests.conftest import MakeBusiness

COSTS = ProviderCostsConfig()
USD = Currency.USD
# Carrier 8,500 + STT 7,700 + 400 characters of speech at 30,000 per 1k (12,000) + 6,000 input and 150 output
# tokens at 150 and 600 per 1k (900 + 90): micros a minute of call at the default table.
CALL_MINUTE = 8500 + 7700 + 12000 + 990


def test_a_call_minute_costs_the_sum_of_its_providers() -> None:
    assert call_per_minute(COSTS, "gpt-4o-mini") == CALL_MINUTE


@given(st.lists(st.integers(min_value=0, max_value=4000), max_size=12), st.integers(min_value=0, max_value=100_000))
def test_checkpoint_costs_add_up_to_the_whole_call_exactly(steps: list[int], per_minute: int) -> None:
    marks = [0]
    for step in steps:
        marks.append(marks[-1] + step)
    parts = [call_cost(a, b, per_minute) for a, b in zip(marks, marks[1:], strict=False)]
    assert all(isinstance(p.micros, int) and p.micros >= 0 and p.estimated for p in parts)
    assert sum(p.micros for p in parts) == call_cost(0, marks[-1], per_minute).micros
    assert call_cost(0, marks[-1], per_minute).micros == -(-marks[-1] * per_minute // 60)


def test_measured_quantities_at_listed_prices_are_not_estimated() -> None:
    assert reply_cost("chat", 1200, 300, "gpt-4o-mini", COSTS) == Cost(180 + 180, False)
    assert reply_cost("chat", 1200, 300, "some-new-model", COSTS) == Cost(180 + 180, True)
    # An SMS reply: its tokens, and the text that asked plus the reply at the default price (not counted).
    assert reply_cost("sms", 800, 100, "gpt-4o-mini", COSTS) == Cost(120 + 60 + 2 * 8300, True)
    assert sms_cost(3, "GB", COSTS) == Cost(3 * 40000, False)
    assert sms_cost(3, "BR", COSTS) == sms_cost(3, None, COSTS) == Cost(3 * 8300, True)
    assert number_cost("us", "toll_free", COSTS) == Cost(2150000, False)
    assert number_cost("CA", "mobile", COSTS) is None


@pytest.mark.parametrize("table", [
    {"sms_per_segment_micros": {"US": 8300}},
    {"llm": {"default": {"input_per_1k_micros": 1}}},
    {"llm": {"gpt-4o": {"input_per_1k_micros": 1, "output_per_1k_micros": 1}}},
    {"llm": {"default": {"input_per_1k_micros": 1, "output_per_1k_micros": 1, "input": 1}}},
    {"llm": {"default": {"input_per_1k_micros": 1, "output_per_1k_micros": -1}}},
    {"stt_per_minute_micros": -1},
    {"number_monthly_micros": {"USA": {"local": 1}}},
    {"voice_per_minute_micros": {"outbound": 14000}},
])
def test_a_price_table_without_defaults_or_with_negative_prices_stops_start_up(table: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        settings_from({"provider_costs": table}, {})


async def seed_a_day(pool: asyncpg.Pool, business: uuid.UUID) -> None:
    """A 52 s call in four charges, a chat reply and an SMS reply through the wallet payment, a month of
    a US local number, and one old SMS entry from before costs were kept."""
    await ledger.credit(pool, business_id=business, amount=Money(10_000, USD), kind=EntryKind.TOPUP,
                        idempotency_key=f"seed:{business}", reference="seed", actor="test")
    meter = await call_meter.open_meter(pool, business_id=business, call_sid="CAcost",
                                        prices=Prices(USD, voice_per_minute=120, sms_per_reply=2, chat_per_1k_tokens=1),
                                        wanted=60, minimum=10, lease_seconds=120)
    assert meter is not None
    per_minute = call_per_minute(COSTS, "gpt-4o-mini")
    for used in (15, 30, 45):
        await call_meter.checkpoint(pool, "CAcost", used_seconds=used, grant_ahead=60, lease_seconds=120,
                                    cost_per_minute=per_minute)
    await call_meter.settle(pool, "CAcost", used_seconds=52, source="stop", cost_per_minute=per_minute)
    payment = WalletReplyPayment(pool, BillingConfig(), costs=COSTS, model="gpt-4o-mini")
    for channel, key, prompt, completion in (("chat", "chat:m1", 1200, 300), ("sms", "sms:SM1", 800, 100)):
        handle = await payment.reserve(business, channel, key)
        await payment.charge(handle, channel=channel, key=key, prompt_tokens=prompt, completion_tokens=completion)
    await ledger.debit(pool, business_id=business, amount=Money(150, USD), kind=EntryKind.NUMBER_RENT,
                       idempotency_key="rent:PN1:1", reference="number:+14155550100:1", actor="test",
                       detail=UsageDetail(1, Unit.MONTHS, number_cost("US", "local", COSTS)))
    await ledger.debit(pool, business_id=business, amount=Money(2, USD), kind=EntryKind.SMS_USAGE,
                       idempotency_key="sms:old", reference="sms:old", actor="test")


async def test_every_usage_entry_records_its_seconds_and_cost_with_it(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    business = (await make_business()).business_id
    await seed_a_day(pool, business)
    rows = await pool.fetch("SELECT d.quantity, d.cost_micros, d.cost_estimated FROM ledger_entries e"
                            " JOIN usage_details d ON d.entry_id = e.id WHERE e.reference = 'call:CAcost' ORDER BY e.id")
    assert [r["quantity"] for r in rows] == [15, 15, 15, 7]
    assert sum(r["cost_micros"] for r in rows) == -(-52 * CALL_MINUTE // 60) and all(r["cost_estimated"] for r in rows)
    assert await ledger.conservation_violations(pool) == []


def test_books_report_shows_revenue_cost_and_margin_per_product(
        database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    async def seed() -> None:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        assert pool is not None
        try:
            business = await pool.fetchval("INSERT INTO businesses (name) VALUES ('Costs') RETURNING id")
            await seed_a_day(pool, business)
        finally:
            await pool.close()

    monkeypatch.setenv("DATABASE_URL", database_url)
    asyncio.run(seed())
    today = datetime.datetime.now(datetime.UTC).date()
    assert main(["books", "report", "--from", str(today), "--to", str(today + datetime.timedelta(days=1)),
                 "--csv"]) == 0
    rows = {r["account"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    got = {account: (int(r["moved"]), int(r["cost_micros"]), int(r["margin_micros"]),
                     int(r["cost_estimated_entries"]), int(r["uncosted_entries"]))
           for account, r in rows.items() if account.startswith("revenue:")}
    call_cost_micros = -(-52 * CALL_MINUTE // 60)
    sms_reply = 120 + 60 + 2 * 8300
    assert got == {
        "revenue:call": (voice_charge(52, 120), call_cost_micros, voice_charge(52, 120) * 10_000 - call_cost_micros,
                         4, 0),
        "revenue:chat": (chat_charge(1500, 1), 360, chat_charge(1500, 1) * 10_000 - 360, 0, 0),
        "revenue:sms": (2 + 2, sms_reply, 4 * 10_000 - sms_reply, 1, 1),
        "revenue:number_rent": (150, 1_150_000, 1_500_000 - 1_150_000, 0, 0)}
    assert rows["wallets"]["cost_micros"] == "" and int(rows["wallets"]["moved"]) == 10_000 - sum(
        moved for moved, *_ in got.values())
