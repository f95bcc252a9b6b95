"""Double entry: every wallet entry has its counter-side in a platform account, Σ accounts = 0 per currency,
history is backfilled by kind, and `agent-server books check` names a break and exits non-zero."""

from __future__ import annotations

import asyncio
import csv
import datetime
import io
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from agent_server import tenants
from agent_server.cli import main
from agent_server.migrations import MIGRATIONS_DIR, migrate
from billing import accounts, holds, ledger, refunds
from billing.ledger import EntryKind
from billing.money import Currency, Money
from tests.conftest import MakeBusiness, PgServer

USD, INR = Currency.USD, Currency.INR


def totals(rows: list[accounts.AccountBalance]) -> dict[tuple[str, str], int]:
    return {(r.currency, r.account): r.balance for r in rows}


async def test_every_movement_has_its_counter_side(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    business = tenant.business_id
    await ledger.credit(pool, business_id=business, amount=Money(1000, USD), kind=EntryKind.TOPUP,
                        idempotency_key="t1", reference="stripe:checkout_session:cs_1", actor="stripe")
    await ledger.credit(pool, business_id=business, amount=Money(5000, INR), kind=EntryKind.TOPUP,
                        idempotency_key="t2", reference="stripe:checkout_session:cs_2", actor="stripe")
    hold = await holds.place_hold(pool, business_id=business, amount=Money(300, USD),
                                  expires_at=datetime.datetime.now(datetime.UTC), idempotency_key="h",
                                  reference="call:CA1")
    await holds.capture(pool, hold.id, amount=Money(120, USD), kind=EntryKind.CALL_USAGE, idempotency_key="c1",
                        actor="metering")
    await holds.settle(pool, hold.id, amount=Money(80, USD), kind=EntryKind.CALL_USAGE, idempotency_key="s1",
                       actor="metering")
    await ledger.debit(pool, business_id=business, amount=Money(3, USD), kind=EntryKind.SMS_USAGE,
                       idempotency_key="sms:SM1", reference="sms:SM1", actor="metering")
    await ledger.post_entry(pool, business_id=business, amount=Money(-7, USD), kind=EntryKind.ADJUSTMENT,
                            idempotency_key="adj", reference="correction", actor="operator:x")
    await refunds.refund_up_to(pool, business_id=business, refunded=Money(100, USD),
                               charge_reference="stripe:charge:ch_1", idempotency_key="r1", actor="stripe")
    books = totals(await accounts.balances(pool))
    assert books == {("USD", "wallets"): 1000 - 200 - 3 - 7 - 100, ("USD", "stripe_clearing"): -1000,
                     ("USD", "revenue:call"): 200, ("USD", "revenue:sms"): 3, ("USD", "adjustments"): 7,
                     ("USD", "refunds"): 100, ("INR", "wallets"): 5000, ("INR", "stripe_clearing"): -5000}
    rows = await pool.fetch("SELECT e.kind, p.account, p.amount + e.amount AS net FROM ledger_entries e"
                            " JOIN platform_entries p ON p.entry_id = e.id")
    assert len(rows) == await pool.fetchval("SELECT count(*) FROM ledger_entries") == 7
    assert all(r["net"] == 0 and r["account"] == accounts.counter_account(r["kind"]) for r in rows)
    assert await ledger.conservation_violations(pool) == []


async def test_a_replayed_entry_writes_no_second_counter_side(pool: asyncpg.Pool,
                                                                make_business: MakeBusiness) -> None:
    tenant = await make_business()
    for _ in range(3):
        await ledger.credit(pool, business_id=tenant.business_id, amount=Money(500, USD), kind=EntryKind.TOPUP,
                            idempotency_key="once", reference="r", actor="t")
    assert await pool.fetchval("SELECT count(*) FROM platform_entries") == 1


async def test_counter_side_rows_are_append_only(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    await ledger.credit(pool, business_id=tenant.business_id, amount=Money(500, USD), kind=EntryKind.TOPUP,
                        idempotency_key="k", reference="r", actor="t")
    for sql in ("UPDATE platform_entries SET amount = 1", "DELETE FROM platform_entries",
                "TRUNCATE platform_entries"):
        with pytest.raises(asyncpg.RestrictViolationError):
            await pool.execute(sql)


@pytest.fixture
async def scratch_db(pg_server: PgServer) -> AsyncIterator[str]:
    """An empty database outside the per-test conservation check, for books broken on purpose."""
    name = f"books_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        yield pg_server.dsn(name)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


async def test_backfill_gives_existing_entries_their_counter_side(scratch_db: str, tmp_path: Path) -> None:
    """History written before double entry (by kind, both currencies) balances once 0003 runs."""
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0003":
            shutil.copy(path, before / path.name)
    await migrate(scratch_db, before)
    conn = await asyncpg.connect(scratch_db)
    try:
        business = await tenants.create_business(conn, "Old")
        history = [("USD", "topup", 900), ("USD", "call_usage", -120), ("USD", "sms_usage", -2),
                   ("USD", "chat_usage", -1), ("USD", "number_purchase", -100), ("USD", "number_rent", -100),
                   ("USD", "refund", -50), ("USD", "adjustment", 5), ("INR", "topup", 2000)]
        for n, (currency, kind, amount) in enumerate(history):
            wallet = await conn.fetchval("INSERT INTO wallets (business_id, currency) VALUES ($1, $2)"
                                         " ON CONFLICT (business_id, currency) DO UPDATE SET currency = $2"
                                         " RETURNING id", business, currency)
            after = await conn.fetchval("UPDATE wallets SET balance = balance + $2 WHERE id = $1 RETURNING balance",
                                        wallet, amount)
            await conn.execute("INSERT INTO ledger_entries (wallet_id, amount, kind, reference, actor,"
                               " idempotency_key, fingerprint, balance_after) VALUES ($1, $2, $3, 'r', 'a', $4, 'f', $5)",
                               wallet, amount, kind, f"old:{n}", after)
        assert await migrate(scratch_db) == [p.name for p in sorted(MIGRATIONS_DIR.glob("*.sql"))
                                             if p.name >= "0003"]
        assert await ledger.conservation_violations(conn) == []
        books = totals(await accounts.balances(conn))
        assert books[("USD", "revenue:number_rent")] == 100 and books[("USD", "adjustments")] == -5
        assert books[("USD", "wallets")] == 532 and books[("INR", "stripe_clearing")] == -2000
    finally:
        await conn.close()


async def seed_then_forge(dsn: str, *, forge: bool) -> tuple[int, int]:
    """A top-up through the ledger; with `forge`, a wallet entry written around it (no counter-side, no balance)."""
    conn = await asyncpg.connect(dsn)
    try:
        if not forge:
            business = await tenants.create_business(conn, "Books")
            await ledger.credit(conn, business_id=business, amount=Money(700, USD), kind=EntryKind.TOPUP,
                                idempotency_key="k", reference="r", actor="t")
        wallet: int = await conn.fetchval("SELECT id FROM wallets")
        if not forge:
            return wallet, 0
        forged: int = await conn.fetchval(
            "INSERT INTO ledger_entries (wallet_id, amount, kind, reference, actor, idempotency_key, fingerprint,"
            " balance_after) VALUES ($1, 50, 'topup', 'forged', 'x', 'forged', 'f', 750) RETURNING id", wallet)
        return wallet, forged
    finally:
        await conn.close()


def test_books_check_passes_then_names_a_break(scratch_db: str, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(migrate(scratch_db))
    monkeypatch.setenv("DATABASE_URL", scratch_db)
    asyncio.run(seed_then_forge(scratch_db, forge=False))
    assert main(["books", "check", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["ok"] and report["violations"] == []
    assert {(a["account"], a["balance"]) for a in report["accounts"]} == {("wallets", 700), ("stripe_clearing", -700)}
    wallet, forged = asyncio.run(seed_then_forge(scratch_db, forge=True))
    assert main(["books", "check"]) == 1
    text = capsys.readouterr().out
    assert f"transfer of entry {forged}: stored 0 != computed -50" in text
    assert "sum of all accounts in USD 0: stored 50 != computed 0" in text
    assert f"wallet balance {wallet}: stored 700 != computed 750" in text


async def seed_usage(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        business = await tenants.create_business(conn, "Report")
        await ledger.credit(conn, business_id=business, amount=Money(1000, USD), kind=EntryKind.TOPUP,
                            idempotency_key="t", reference="r", actor="t")
        for n, kind in enumerate((EntryKind.CALL_USAGE, EntryKind.CALL_USAGE, EntryKind.SMS_USAGE)):
            await ledger.debit(conn, business_id=business, amount=Money(10 * (n + 1), USD), kind=kind,
                               idempotency_key=f"u{n}", reference=f"u{n}", actor="t")
    finally:
        await conn.close()


def test_books_report_sums_each_account_over_the_period(database_url: str, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    asyncio.run(seed_usage(database_url))
    today = datetime.datetime.now(datetime.UTC).date()
    day = datetime.timedelta(days=1)
    assert main(["books", "report", "--from", str(today), "--to", str(today + day), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    got = {r["account"]: (int(r["moved"]), int(r["closing"]), int(r["entries"])) for r in rows}
    assert got == {"wallets": (940, 940, 4), "stripe_clearing": (-1000, -1000, 1), "revenue:call": (30, 30, 2),
                   "revenue:sms": (30, 30, 1)}
    assert main(["books", "report", "--from", str(today + day), "--to", str(today + 2 * day), "--json"]) == 0
    later = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["accounts"]
    assert {a["account"]: (a["moved"], a["closing"]) for a in later} == {
        "wallets": (0, 940), "stripe_clearing": (0, -1000), "revenue:call": (0, 30), "revenue:sms": (0, 30)}
    assert main(["books", "report", "--from", str(today), "--to", str(today)]) == 1
