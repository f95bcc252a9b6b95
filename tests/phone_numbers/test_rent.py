"""The rent job: one charge per number and period, single instance, suspension and resumption."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import sys
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from agent_server import agents
from agent_server.cli import main
from agent_server.config import Settings
from media.caller_simulator import parse_twiml, sign
from phone_numbers import registry, rent
from phone_numbers.config import NumbersConfig
from phone_numbers.rent import RentRun
from storage.pool import init_connection
from tests.conftest import PUBLIC_URL, MakeBusiness
from tests.fake_twilio import FakeTwilio
from tests.phone_numbers.conftest import Client, Fund, balance, entries, record_number

ROOT = Path(__file__).resolve().parents[2]
BOUGHT = datetime.datetime(2026, 1, 31, 9, 30, tzinfo=datetime.UTC)
CONFIG = NumbersConfig()


def at(year: int, month: int, day: int, hour: int = 12) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, tzinfo=datetime.UTC)


async def test_rent_is_charged_once_per_period_however_often_the_job_runs(
        pool: asyncpg.Pool, make_business: MakeBusiness, fund: Fund) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 1000)
    number = await record_number(pool, tenant.business_id, "+14155550100", anchor=BOUGHT)
    assert await rent.run_rent(pool, CONFIG, now=at(2026, 2, 27)) == RentRun()
    # Due on Feb 28 (Jan 31 + one month, clamped); three runs in the same period charge once.
    for now in (at(2026, 2, 28), at(2026, 2, 28, 13), at(2026, 3, 15)):
        await rent.run_rent(pool, CONFIG, now=now)
    rows = await entries(pool, "number_rent")
    assert [(r["amount"], r["idempotency_key"]) for r in rows] == [(-150, f"number_rent:{number.twilio_sid}:2026-02-28")]
    stored = await registry.get_number(pool, number.id)
    assert stored is not None and stored.rent_periods_paid == 2
    # Back on the anchor's day in a long month, not drifting to the 28th.
    assert stored.rent_paid_through == datetime.datetime(2026, 3, 31, 9, 30, tzinfo=datetime.UTC)
    assert await balance(pool, tenant.business_id) == (850, 0)


async def test_missed_months_are_each_charged_once_in_order(
        pool: asyncpg.Pool, make_business: MakeBusiness, fund: Fund) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 1000)
    number = await record_number(pool, tenant.business_id, "+14155550100", anchor=BOUGHT)
    done = await rent.run_rent(pool, CONFIG, now=at(2026, 5, 1))
    assert done == RentRun(charged=3)
    keys = [r["idempotency_key"].rsplit(":", 1)[1] for r in await entries(pool, "number_rent")]
    assert keys == ["2026-02-28", "2026-03-31", "2026-04-30"]
    await rent.run_rent(pool, CONFIG, now=at(2026, 5, 1))
    assert len(await entries(pool, "number_rent")) == 3
    assert number.twilio_sid is not None


async def test_a_run_that_finds_the_job_running_elsewhere_skips(
        pool: asyncpg.Pool, make_business: MakeBusiness, fund: Fund, database_url: str) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 1000)
    await record_number(pool, tenant.business_id, "+14155550100", anchor=BOUGHT)
    other = await asyncpg.connect(database_url)
    try:
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", rent.RENT_LOCK_KEY)
        assert await rent.run_rent(pool, CONFIG, now=at(2026, 3, 1)) is None
        assert await entries(pool, "number_rent") == []
    finally:
        await other.close()
    assert await rent.run_rent(pool, CONFIG, now=at(2026, 3, 1)) == RentRun(charged=1)


async def test_two_independent_pools_charging_at_once_charge_once(
        pool: asyncpg.Pool, make_business: MakeBusiness, fund: Fund, database_url: str) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 10_000)
    numbers = [await record_number(pool, tenant.business_id, f"+1415555010{i}", anchor=BOUGHT) for i in range(5)]
    second = await asyncpg.create_pool(database_url, min_size=1, max_size=5, init=init_connection)
    assert second is not None
    try:
        runs = [RentRun() for _ in range(4)]
        await asyncio.gather(*(rent.charge_number(db, CONFIG, n.id, now=at(2026, 4, 1), run=run)
                               for n in numbers for db, run in zip((pool, second, pool, second), runs)))
    finally:
        await second.close()
    assert sum(r.charged for r in runs) == 10
    assert len(await entries(pool, "number_rent")) == 10
    assert await balance(pool, tenant.business_id) == (10_000 - 10 * 150, 0)


async def _spawn(database_url: str, mode: str, now: datetime.datetime, rounds: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.phone_numbers.rent_worker", database_url, mode, now.isoformat(), str(rounds),
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
    return proc


@pytest.mark.parametrize("mode", ["job", "direct"])
async def test_two_processes_running_rent_at_once_charge_each_period_once(
        pool: asyncpg.Pool, make_business: MakeBusiness, fund: Fund, database_url: str, mode: str) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 100_000)
    for i in range(8):
        await record_number(pool, tenant.business_id, f"+1415555020{i}", anchor=BOUGHT)
    now = at(2026, 5, 1)
    procs = [await _spawn(database_url, mode, now, rounds=3) for _ in range(2)]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    outputs = [await asyncio.wait_for(proc.communicate(), 60) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    results: list[Any] = [r for out, _ in outputs for r in orjson.loads(out.strip().splitlines()[-1])]
    assert sum(r["charged"] for r in results if r is not None) == 8 * 3
    rows = await entries(pool, "number_rent")
    assert len(rows) == len({r["idempotency_key"] for r in rows}) == 8 * 3
    assert await balance(pool, tenant.business_id) == (100_000 - 24 * 150, 0)


async def test_unpaid_rent_suspends_after_the_grace_and_payment_resumes(
        pool: asyncpg.Pool, make_business: MakeBusiness, fund: Fund) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 100)
    number = await record_number(pool, tenant.business_id, "+14155550100", anchor=BOUGHT)
    config = dataclasses.replace(CONFIG, rent_grace_days=3)
    # Due Feb 28; within the grace the number keeps working.
    assert await rent.run_rent(pool, config, now=at(2026, 3, 2)) == RentRun(unpaid=1)
    route = await registry.route_for(pool, "+14155550100")
    assert route is not None and route.status == "active"
    assert await rent.run_rent(pool, config, now=at(2026, 3, 3, 10)) == RentRun(unpaid=1, suspended=1)
    route = await registry.route_for(pool, "+14155550100")
    assert route is not None and route.status == "suspended"
    # Suspended, not released: later runs keep it and don't suspend it again.
    assert await rent.run_rent(pool, config, now=at(2026, 3, 10)) == RentRun(unpaid=1)
    assert await entries(pool, "number_rent") == []
    await fund(tenant.business_id, 100)
    assert await rent.run_rent(pool, config, now=at(2026, 3, 11)) == RentRun(charged=1, resumed=1)
    stored = await registry.get_number(pool, number.id)
    assert stored is not None and (stored.status, stored.suspended_at) == ("active", None)
    assert await balance(pool, tenant.business_id) == (50, 0)


async def test_resuming_pays_the_arrears_it_can_and_stays_suspended_for_the_rest(
        pool: asyncpg.Pool, make_business: MakeBusiness, fund: Fund) -> None:
    tenant = await make_business()
    number = await record_number(pool, tenant.business_id, "+14155550100", anchor=BOUGHT)
    await rent.run_rent(pool, CONFIG, now=at(2026, 3, 20))
    assert (await registry.get_number(pool, number.id)).status == "suspended"  # type: ignore[union-attr]
    await fund(tenant.business_id, 200)
    done = await rent.run_rent(pool, CONFIG, now=at(2026, 4, 15))
    # Feb 28 paid (resumed), Mar 31 unpaid and long past its grace: suspended again.
    assert done == RentRun(charged=1, resumed=1, unpaid=1, suspended=1)
    await fund(tenant.business_id, 100)
    assert await rent.run_rent(pool, CONFIG, now=at(2026, 4, 16)) == RentRun(charged=1, resumed=1)


async def test_released_and_hand_registered_numbers_pay_no_rent(
        pool: asyncpg.Pool, make_business: MakeBusiness, fund: Fund) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 1000)
    await registry.add_number(pool, tenant.business_id, "+14155550199")
    released = await record_number(pool, tenant.business_id, "+14155550100", anchor=BOUGHT)
    await registry.mark_released(pool, released.id, BOUGHT)
    assert await rent.run_rent(pool, CONFIG, now=at(2026, 6, 1)) == RentRun()
    assert await entries(pool, "number_rent") == []


async def test_callers_of_a_suspended_number_hear_a_short_message(
        client: Client, fake_twilio: FakeTwilio, twilio_settings: Settings, pool: asyncpg.Pool,
        make_business: MakeBusiness) -> None:
    tenant = await make_business()
    await agents.create_agent(pool, tenant.business_id, "Ava")
    await record_number(pool, tenant.business_id, "+14155550100", anchor=BOUGHT)
    await rent.run_rent(pool, CONFIG, now=at(2026, 3, 20))
    form = {"CallSid": "CA" + "b" * 32, "AccountSid": fake_twilio.account_sid, "From": "+15551230000",
            "To": "+14155550100", "CallStatus": "ringing", "Direction": "inbound"}
    path = "/api/voice-agent/handle-call"
    resp = await client.post(path, data=form, headers={
        "X-Twilio-Signature": sign(fake_twilio.auth_token, PUBLIC_URL + path, form)})
    body = await resp.text()
    stream_url, _, said = parse_twiml(body)
    assert resp.status == 200 and stream_url is None
    assert said == twilio_settings.calls.unavailable_text and "<Hangup />" in body


async def test_charge_rent_command_charges_what_is_due_now_once(
        pool: asyncpg.Pool, make_business: MakeBusiness, fund: Fund, database_url: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`agent-server number charge-rent` runs the job on demand; run twice, it charges the period once."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    tenant = await make_business()
    await fund(tenant.business_id, 1000)
    bought = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=40)
    await record_number(pool, tenant.business_id, "+14155550100", anchor=bought)
    outputs = []
    for _ in range(2):
        assert await asyncio.to_thread(main, ["number", "charge-rent", "--json"]) == 0
        outputs.append(orjson.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert outputs == [{"skipped": False, "charged": 1, "suspended": 0, "resumed": 0, "unpaid": 0},
                       {"skipped": False, "charged": 0, "suspended": 0, "resumed": 0, "unpaid": 0}]
    assert [r["amount"] for r in await entries(pool, "number_rent")] == [-150]
    assert await balance(pool, tenant.business_id) == (850, 0)
