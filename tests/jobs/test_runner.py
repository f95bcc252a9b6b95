"""The runner: retries on the backoff schedule, dedupe, permanent failures, leases, recurring jobs across runners."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator

import asyncpg
import pytest

from jobs import queue
from jobs.config import JobsConfig
from jobs.errors import PermanentFailure
from jobs.queue import BACKOFF, Job
from jobs.runner import Recurring, Runner
from jobs.schedule import Schedule
from storage.pool import init_connection
from tests.jobs.clock import ManualClock

T0 = datetime.datetime(2026, 3, 4, 10, 2, tzinfo=datetime.UTC)
CONFIG = JobsConfig(poll_interval_seconds=0.05, concurrency=4, lease_seconds=30.0)


async def _fails(job: Job) -> None:
    raise ConnectionError(f"attempt {job.attempt} refused")


async def _succeeds(job: Job) -> None:
    return None


async def test_a_failing_job_retries_after_1m_5m_30m_2h_then_fails(pool: asyncpg.Pool) -> None:
    clock = ManualClock(T0)
    runner = Runner(pool, {"flaky": _fails}, CONFIG, clock=clock)
    job_id = await queue.enqueue(pool, "flaky", {"n": 1}, now=clock.now)
    assert job_id is not None
    for attempt, wait in enumerate(BACKOFF, start=1):
        assert await runner.run_once() == 1
        record = await queue.find(pool, job_id)
        assert record is not None
        assert (record.status, record.attempts, record.run_at) == ("queued", attempt, clock.now + wait)
        assert record.last_error == f"ConnectionError: attempt {attempt} refused"
        clock.now = record.run_at - datetime.timedelta(seconds=1)
        assert await runner.run_once() == 0, "ran before its backoff was over"
        clock.advance(seconds=1)
    assert await runner.run_once() == 1
    record = await queue.find(pool, job_id)
    assert record is not None
    assert (record.status, record.attempts, record.finished_at) == ("failed", 5, clock.now)
    clock.advance(hours=10)
    assert await runner.run_once() == 0


async def test_a_job_that_recovers_succeeds_on_its_third_attempt(pool: asyncpg.Pool) -> None:
    clock = ManualClock(T0)

    async def third_time_lucky(job: Job) -> None:
        if job.attempt < 3:
            raise TimeoutError

    runner = Runner(pool, {"flaky": third_time_lucky}, CONFIG, clock=clock)
    job_id = await queue.enqueue(pool, "flaky", now=clock.now)
    assert job_id is not None
    for wait in BACKOFF[:2]:
        await runner.run_once()
        clock.advance(seconds=wait.total_seconds())
    assert await runner.run_once() == 1
    record = await queue.find(pool, job_id)
    assert record is not None
    assert (record.status, record.attempts, record.last_error) == ("succeeded", 3, None)


async def test_a_permanent_failure_is_not_retried(pool: asyncpg.Pool) -> None:
    async def rejected(job: Job) -> None:
        raise PermanentFailure("550 no such mailbox")

    clock = ManualClock(T0)
    job_id = await queue.enqueue(pool, "doomed", now=clock.now)
    assert job_id is not None
    await Runner(pool, {"doomed": rejected}, CONFIG, clock=clock).run_once()
    record = await queue.find(pool, job_id)
    assert record is not None
    assert (record.status, record.attempts, record.last_error) == ("failed", 1, "PermanentFailure: 550 no such mailbox")


async def test_enqueuing_twice_with_one_dedupe_key_is_one_job_until_it_finishes(pool: asyncpg.Pool) -> None:
    clock = ManualClock(T0)
    first = await queue.enqueue(pool, "report", {"v": 1}, now=clock.now, dedupe_key="week-10")
    assert first is not None
    assert await queue.enqueue(pool, "report", {"v": 2}, now=clock.now, dedupe_key="week-10") is None
    other_kind = await queue.enqueue(pool, "digest", now=clock.now, dedupe_key="week-10")
    assert other_kind is not None
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'report'") == 1
    await Runner(pool, {"report": _succeeds}, CONFIG, clock=clock).run_once()
    assert await queue.enqueue(pool, "report", now=clock.now, dedupe_key="week-10") is not None


async def test_concurrent_enqueues_of_one_key_make_one_job(pool: asyncpg.Pool) -> None:
    ids = await asyncio.gather(*(queue.enqueue(pool, "report", now=T0, dedupe_key="once") for _ in range(5)))
    assert len([i for i in ids if i is not None]) == 1


async def test_a_dead_runners_job_is_taken_back_when_its_lease_expires(pool: asyncpg.Pool) -> None:
    clock = ManualClock(T0)
    job_id = await queue.enqueue(pool, "work", now=clock.now)
    lease = datetime.timedelta(seconds=CONFIG.lease_seconds)
    (dead,) = await queue.claim(pool, kinds=("work",), limit=1, worker="dead-worker", now=clock.now, lease=lease)
    ran: list[int] = []

    async def work(job: Job) -> None:
        ran.append(job.attempt)

    alive = Runner(pool, {"work": work}, CONFIG, clock=clock)
    clock.advance(seconds=CONFIG.lease_seconds - 1)
    assert await alive.run_once() == 0, "took a job whose lease still ran"
    clock.advance(seconds=2)
    assert await alive.run_once() == 1
    assert ran == [2]
    record = await queue.find(pool, dead.id)
    assert record is not None and record.id == job_id
    assert record.status == "succeeded"
    assert not await queue.succeed(pool, dead, worker="dead-worker", now=clock.now), "a lost claim finished the job"
    assert await queue.fail(pool, dead, "late", worker="dead-worker", now=clock.now) is None


@pytest.fixture
async def second_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """Another pool on the same database: a second process's runner, as far as PostgreSQL can tell."""
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=3, init=init_connection)
    assert created is not None
    yield created
    await created.close()


async def test_a_recurring_job_runs_once_per_due_time_across_two_runners(
        pool: asyncpg.Pool, second_pool: asyncpg.Pool) -> None:
    clock = ManualClock(T0)
    ran: list[tuple[str, str]] = []

    def handler(name: str) -> Runner:
        async def sweep(job: Job) -> None:
            await asyncio.sleep(0.01)
            ran.append((name, job.payload["due"]))
        every_five = Recurring("sweep", Schedule.parse("*/5 * * * *"))
        return Runner(pool if name == "a" else second_pool, {"sweep": sweep}, CONFIG, recurring=(every_five,),
                      clock=clock, worker_id=name)

    a, b = handler("a"), handler("b")
    assert list(await asyncio.gather(a.run_once(), b.run_once())) == [0, 0], "a new schedule ran for a past due time"
    expected = []
    for _ in range(4):
        clock.advance(minutes=5)
        expected.append(clock.now.replace(minute=clock.now.minute - 2).isoformat())
        await asyncio.gather(a.run_once(), b.run_once(), a.run_once(), b.run_once())
    assert sorted(due for _, due in ran) == expected
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'sweep' AND status = 'succeeded'") == 4


async def test_the_background_loop_runs_queued_jobs_and_gives_back_unfinished_ones_on_stop(
        pool: asyncpg.Pool) -> None:
    done = asyncio.Event()
    started = asyncio.Event()

    async def quick(job: Job) -> None:
        done.set()

    async def endless(job: Job) -> None:
        started.set()
        await asyncio.sleep(3600)

    runner = Runner(pool, {"quick": quick, "endless": endless}, CONFIG)
    now = datetime.datetime.now(datetime.UTC)
    async with runner.running(grace_seconds=0.1):
        quick_id = await queue.enqueue(pool, "quick", now=now)
        endless_id = await queue.enqueue(pool, "endless", now=now)
        await asyncio.wait_for(asyncio.gather(done.wait(), started.wait()), 5)
    assert quick_id is not None and endless_id is not None
    quick_record, endless_record = await queue.find(pool, quick_id), await queue.find(pool, endless_id)
    assert quick_record is not None and quick_record.status == "succeeded"
    assert endless_record is not None
    assert (endless_record.status, endless_record.attempts) == ("queued", 0)


async def test_a_runner_claims_only_kinds_it_has_handlers_for(pool: asyncpg.Pool) -> None:
    await queue.enqueue(pool, "someone-elses", now=T0)
    assert await Runner(pool, {"mine": _succeeds}, CONFIG, clock=ManualClock(T0)).run_once() == 0


def test_a_recurring_kind_needs_a_handler(pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="sweep"):
        Runner(pool, {}, CONFIG, recurring=(Recurring("sweep", Schedule.parse("0 * * * *")),))
