"""Shared limits in PostgreSQL: the upsert is the pure GCRA, idle rows go, and processes share one count."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

import asyncpg

from conversations import rate_limits
from conversations.config import MessagingConfig
from conversations.gcra import Limit, admit
from conversations.rate_limits import Scope

ROOT = Path(__file__).resolve().parents[2]
SECOND = 1_000_000


async def stored_tats(pool: asyncpg.Pool) -> dict[str, int]:
    return {r["key"]: r["tat_us"] for r in await pool.fetch("SELECT key, tat_us FROM rate_limits")}


async def test_the_sql_check_decides_exactly_as_the_pure_gcra(pool: asyncpg.Pool) -> None:
    """A seeded run over three keys and two limits: every decision and every stored TAT agree."""
    rng = random.Random(19)
    limits = {"a": Limit(60, 3), "b": Limit(7, 1), "c": Limit(600, 10)}
    model: dict[str, int | None] = dict.fromkeys(limits)
    now = 1_700_000_000 * SECOND
    for _ in range(600):
        now += rng.choice([0, 0, 1, 50_000, 100_000, 999_999, 1_000_000, 9 * SECOND])
        key = rng.choice("abc")
        expected, model[key] = admit(model[key], now, limits[key])
        assert await rate_limits.allow(pool, Scope.WIDGET_IP, key, limits[key], now_us=now) is expected
    assert await stored_tats(pool) == {f"widget_ip:{k}": v for k, v in model.items() if v is not None}


async def test_with_the_database_clock_a_burst_passes_then_the_rate_refills(pool: asyncpg.Pool) -> None:
    limit = Limit(per_minute=600, burst=2)  # one message per 100 ms
    assert [await rate_limits.allow(pool, Scope.SMS_SENDER, "+1:+2", limit) for _ in range(3)] == [True, True, False]
    await asyncio.sleep(0.15)
    assert await rate_limits.allow(pool, Scope.SMS_SENDER, "+1:+2", limit)
    assert not await rate_limits.allow(pool, Scope.SMS_SENDER, "+1:+2", limit)


async def test_scopes_and_subjects_are_separate_keys(pool: asyncpg.Pool) -> None:
    limit = Limit(per_minute=1, burst=1)
    assert await rate_limits.allow(pool, Scope.SMS_NUMBER, "+14155550100", limit)
    assert await rate_limits.allow(pool, Scope.SMS_SENDER, "+14155550100", limit)
    assert await rate_limits.allow(pool, Scope.SMS_NUMBER, "+14155550101", limit)
    assert not await rate_limits.allow(pool, Scope.SMS_NUMBER, "+14155550100", limit)


async def test_idle_rows_are_forgotten_and_busy_ones_kept(pool: asyncpg.Pool) -> None:
    limit = Limit(per_minute=60, burst=5)
    now = 1_700_000_000 * SECOND
    for key, at in [("idle", now - 2 * SECOND), ("just_idle", now - SECOND), ("busy", now)]:
        assert await rate_limits.allow(pool, Scope.WIDGET_IP, key, limit, now_us=at)
    assert await rate_limits.forget_idle(pool, now_us=now) == 2
    assert list(await stored_tats(pool)) == ["widget_ip:busy"]
    # With the database clock: these TATs are decades old.
    assert await rate_limits.forget_idle(pool) == 1
    assert await stored_tats(pool) == {}


def test_every_scope_takes_its_limit_from_the_messaging_section() -> None:
    config = MessagingConfig(ip_messages_per_minute=31, ip_burst=11, conversation_messages_per_minute=13,
                             conversation_burst=6, sms_sender_messages_per_minute=7, sms_sender_burst=4,
                             sms_number_messages_per_minute=61, sms_number_burst=21)
    assert rate_limits.limits(config) == {
        Scope.WIDGET_CONVERSATION: Limit(13, 6), Scope.WIDGET_IP: Limit(31, 11),
        Scope.SMS_SENDER: Limit(7, 4), Scope.SMS_NUMBER: Limit(61, 21)}


async def _spawn(database_url: str, per_minute: float, burst: int, attempts: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.conversations.limit_worker", database_url, "shared", str(per_minute),
        str(burst), str(attempts), cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
    return proc


async def test_two_processes_hammering_one_key_together_admit_only_the_limit(database_url: str) -> None:
    """Per-process limits would admit a burst in each process; the shared row admits one burst in all."""
    burst, per_minute, attempts = 50, 6.0, 400
    procs = [await _spawn(database_url, per_minute, burst, attempts) for _ in range(2)]
    started = time.monotonic()
    start_at = time.time() + 0.5  # both begin at this wall-clock time, however late each reads its line
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"go {start_at}\n".encode())
        await proc.stdin.drain()
    outputs = [await asyncio.wait_for(proc.communicate(), 60) for proc in procs]
    elapsed = time.monotonic() - started
    assert all(proc.returncode == 0 for proc in procs)
    admitted = [int(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert burst <= sum(admitted) <= burst + int(elapsed * per_minute / 60)
    assert all(n > 0 for n in admitted), admitted  # both processes really competed for the key
