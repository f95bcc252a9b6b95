"""The runner: claims due jobs, runs each kind's handler, retries failures, keeps recurring jobs due.

An own runner on `FOR UPDATE SKIP LOCKED` rather than PgQueuer: the queue is four statements
(`jobs/queue.py`) on the pool the app already has, every time comes from one injectable
clock (so a test walks the retry schedule and lease expiry without waiting), and dedupe keys,
per-business listing and the fence against a dead runner's late finish are columns of our own
table rather than extensions to another library's schema and its LISTEN-driven loop.

Given `listen_dsn`, a running runner also holds its own connection LISTENing on
`queue.WAKE_CHANNEL`: every enqueue of a due job NOTIFYs it, so a job waits for a free slot, not
for the next poll (the link a customer asks for is two jobs in a row: the link, then its email).
The poll stays for what no NOTIFY announces (a retry's backoff ending, a lease expiring,
recurring due times) and for a lost connection, which is opened again after a poll interval.

Handlers are given by the caller, one per kind (`{"mail.send": ...}`); a runner claims only
kinds it has a handler for. A handler returns to succeed, raises `PermanentFailure` to fail
for good, or raises anything else to be retried after the backoff (`queue.BACKOFF`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

import asyncpg
import structlog

from jobs import queue
from jobs.config import JobsConfig
from jobs.errors import PermanentFailure
from jobs.queue import Job
from jobs.schedule import Schedule

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime.datetime]
Handler = Callable[[Job], Awaitable[None]]


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclasses.dataclass(frozen=True)
class Recurring:
    """A kind enqueued at every due time of its schedule (its payload is `{"due": iso time}`)."""

    kind: str
    schedule: Schedule


class Runner:
    """Runs jobs from the shared queue in this process; any number of runners may share one database."""

    def __init__(self, pool: asyncpg.Pool, handlers: Mapping[str, Handler], config: JobsConfig, *,
                 recurring: Sequence[Recurring] = (), clock: Clock = utc_now, worker_id: str | None = None,
                 listen_dsn: str | None = None) -> None:
        missing = [r.kind for r in recurring if r.kind not in handlers]
        if missing:
            raise ValueError(f"recurring kinds without a handler: {', '.join(missing)}")
        self._pool = pool
        self._handlers = dict(handlers)
        self._config = config
        self._recurring = tuple(recurring)
        self._clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._lease = datetime.timedelta(seconds=config.lease_seconds)
        self._next_due: dict[str, datetime.datetime] = {}
        self._running: dict[int, asyncio.Task[None]] = {}
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._listen_dsn = listen_dsn
        self._woken = asyncio.Event()

    async def tick(self) -> None:
        """Take back expired leases and enqueue every recurring kind whose due time has come."""
        now = self._clock()
        if taken := await queue.take_back_expired(self._pool, now=now):
            log.warning("jobs_lease_expired", jobs=taken)
        for recurring in self._recurring:
            if recurring.kind in self._next_due and now < self._next_due[recurring.kind]:
                continue
            due = recurring.schedule.latest_due(now)
            if await queue.enqueue_due(self._pool, recurring.kind, due, now=now):
                log.info("job_scheduled", kind=recurring.kind, due=due.isoformat())
            self._next_due[recurring.kind] = recurring.schedule.next_due(due)

    async def run_once(self) -> int:
        """One pass: tick, then claim what is due (up to `concurrency`) and run it to the end.

        Returns:
            How many jobs ran.
        """
        await self.tick()
        claimed = await self._claim(self._config.concurrency)
        await asyncio.gather(*(self._run(job) for job in claimed))
        return len(claimed)

    async def run(self) -> None:
        """Claim and run jobs until the `running` block ends; a database outage is logged and waited out."""
        heartbeat = asyncio.create_task(self._renew_leases())
        listener = asyncio.create_task(self._listen()) if self._listen_dsn else None
        next_tick = 0.0
        try:
            while not self._stopping.is_set():
                free = self._config.concurrency - len(self._running)
                # Cleared before the claim: a NOTIFY arriving during it ends the next wait at once.
                self._woken.clear()
                try:
                    if time.monotonic() >= next_tick:
                        await self.tick()
                        next_tick = time.monotonic() + self._config.poll_interval_seconds
                    claimed = await self._claim(free) if free else []
                    for job in claimed:
                        self._start(job)
                    if claimed and len(claimed) == free:
                        continue  # the queue may hold more: claim again as soon as a slot frees
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("jobs_poll_failed", error=str(exc))
                await self._wait(slot=bool(self._running) and not free)
        finally:
            for task in (heartbeat, listener):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    @contextlib.asynccontextmanager
    async def running(self, grace_seconds: float) -> AsyncIterator[None]:
        """Run in the background for the duration of the block (the app's or the worker's lifetime).

        On exit no more jobs are claimed; running ones get `grace_seconds` to finish, the rest
        are given back to the queue (due at once, the attempt not counted).
        """
        loop = asyncio.create_task(self.run())
        try:
            yield
        finally:
            self._stopping.set()
            await loop
            tasks = list(self._running.values())
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    async def _wait(self, *, slot: bool) -> None:
        """Sleep a poll interval; wake early when stopping, when a slot frees if all were busy, or (with a free
        slot) when a job was enqueued."""
        self._slot_freed.clear()
        waits = [asyncio.ensure_future(self._stopping.wait())]
        if slot:
            waits.append(asyncio.ensure_future(self._slot_freed.wait()))
        else:
            waits.append(asyncio.ensure_future(self._woken.wait()))
        _, pending = await asyncio.wait(waits, timeout=self._config.poll_interval_seconds,
                                        return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()

    async def _listen(self) -> None:
        """Hold a connection LISTENing for enqueued jobs while running; open it again after a loss."""
        assert self._listen_dsn is not None
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(self._listen_dsn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("jobs_listen_failed", error=str(exc))
                await asyncio.sleep(self._config.poll_interval_seconds)
                continue
            try:
                conn.add_termination_listener(lambda _: lost.set())
                await conn.add_listener(queue.WAKE_CHANNEL, lambda *_: self._woken.set())
                self._woken.set()  # what was enqueued while nobody listened is claimed now
                await lost.wait()
                log.warning("jobs_listen_lost")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("jobs_listen_failed", error=str(exc))
            finally:
                with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await conn.close(timeout=5)
            await asyncio.sleep(self._config.poll_interval_seconds)

    async def _claim(self, limit: int) -> list[Job]:
        return await queue.claim(self._pool, kinds=tuple(self._handlers), limit=limit, worker=self.worker_id,
                                 now=self._clock(), lease=self._lease)

    def _start(self, job: Job) -> None:
        task = asyncio.create_task(self._run(job))
        self._running[job.id] = task
        task.add_done_callback(lambda _: self._finished(job.id))

    def _finished(self, job_id: int) -> None:
        self._running.pop(job_id, None)
        self._slot_freed.set()

    async def _run(self, job: Job) -> None:
        try:
            await self._run_and_record(job)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # The outcome could not be written; the lease runs out and the job is taken back.
            log.warning("job_outcome_not_recorded", job_id=job.id, kind=job.kind, error=str(exc))

    async def _run_and_record(self, job: Job) -> None:
        bound = log.bind(job_id=job.id, kind=job.kind, attempt=job.attempt)
        try:
            await self._handlers[job.kind](job)
        except asyncio.CancelledError:
            await queue.release(self._pool, job, worker=self.worker_id, now=self._clock())
            raise
        except PermanentFailure as exc:
            await queue.fail(self._pool, job, _describe(exc), worker=self.worker_id, now=self._clock(),
                             permanent=True)
            bound.warning("job_failed", error=_describe(exc), permanent=True)
        except Exception as exc:
            status = await queue.fail(self._pool, job, _describe(exc), worker=self.worker_id, now=self._clock())
            bound.warning("job_attempt_failed", error=_describe(exc), status=status)
        else:
            if not await queue.succeed(self._pool, job, worker=self.worker_id, now=self._clock()):
                bound.warning("job_claim_lost")

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self._config.lease_seconds / 3)
            if self._running:
                try:
                    await queue.renew(self._pool, tuple(self._running), worker=self.worker_id, now=self._clock(),
                                      lease=self._lease)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("jobs_lease_renewal_failed", error=str(exc))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
