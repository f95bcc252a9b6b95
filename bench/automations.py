"""Webhook delivery throughput: a backlog of signed messages sent by the job runner to a local receiver (part 1).

Starts the embedded database in a temporary folder and the local receiver
(`tests/fake_webhook_receiver.py`, answering 204) in a process of its own, creates
`--endpoints` endpoints of one business, queues `--messages` `form.submitted` events (each
message and its send job in one transaction with the event, `--batch` events per commit),
then runs one runner (`--concurrency` jobs at a time; at most 4 sends in flight per endpoint,
as in production, the sender on its own pool as `agent_server.webhook_jobs` opens it) until
every message is delivered. With two CPUs or more, the bench process
(runner) and the database are pinned to CPU 0 and the receiver to CPU 1. Reports messages/s
over the delivery phase and the CPU seconds of the runner, the receiver and the database.

With `--rate`, instead: events committed one by one at that rate (from a process of their own
on the receiver's CPU, open loop, 8 connections; their database work lands on CPU 0 with the
database) for `--duration` seconds, after a 3 s warm-up, to one endpoint alone, then again
beside an endpoint that answers after `--slow-seconds`; each phase reports commit-to-2xx
percentiles and how many send jobs ran.

    .venv/bin/python bench/automations.py --messages 20000
    .venv/bin/python bench/automations.py --rate 500 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_server.embedded_db import start_embedded  # noqa: E402
from agent_server.migrations import migrate  # noqa: E402
from agent_server.webhook_jobs import open_sender_pool  # noqa: E402
from automations import webhook_endpoints, webhook_outbox  # noqa: E402
from automations.webhook_delivery import SendWebhook  # noqa: E402
from automations.webhook_http import guarded_session  # noqa: E402
from automations.webhook_outbox import FORM_SUBMITTED, SEND_KIND  # noqa: E402
from bench.limits import cpu_seconds, database_cpu, postmaster_of, process_tree  # noqa: E402
from jobs.config import JobsConfig  # noqa: E402
from jobs.runner import Runner, utc_now  # noqa: E402
from storage.pool import init_connection  # noqa: E402

ALLOWED = ("127.0.0.1",)
_RECEIVER = """
import asyncio
from tests.fake_webhook_receiver import FakeWebhookReceiver

async def main():
    async with FakeWebhookReceiver() as receiver:
        print(receiver.port, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def start_receiver() -> tuple[subprocess.Popen[str], int]:
    receiver = subprocess.Popen([sys.executable, "-c", _RECEIVER], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert receiver.stdout is not None
    port = int(receiver.stdout.readline())
    atexit.register(receiver.kill)
    return receiver, port


def pin(postmaster: int, receiver: int) -> str:
    """Runner and database on CPU 0, receiver on CPU 1 (when there are two)."""
    if (os.cpu_count() or 1) < 2:
        return "not pinned (one CPU)"
    for pid in (os.getpid(), *process_tree(postmaster)):
        os.sched_setaffinity(pid, {0})
    os.sched_setaffinity(receiver, {1})
    return "runner + database on CPU 0, receiver on CPU 1"


async def seed(pool: asyncpg.Pool, port: int, endpoints: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    business_id: uuid.UUID = await pool.fetchval("INSERT INTO businesses (name) VALUES ('Bench') RETURNING id")
    forms = [uuid.uuid4() for _ in range(endpoints)]
    for n, form_id in enumerate(forms):
        await webhook_endpoints.create(pool, business_id, url=f"http://127.0.0.1:{port}/ok",
                                       event_types=(FORM_SUBMITTED,), form_ids=(form_id,), enabled=True,
                                       now=utc_now())
    return business_id, forms


async def enqueue_all(pool: asyncpg.Pool, business_id: uuid.UUID, forms: list[uuid.UUID], count: int,
                      batch: int) -> float:
    started = time.perf_counter()
    for first in range(0, count, batch):
        async with pool.acquire() as conn, conn.transaction():
            for n in range(first, min(first + batch, count)):
                form_id = forms[n % len(forms)]
                await webhook_outbox.enqueue(conn, business_id=business_id, event_type=FORM_SUBMITTED, data={
                    "form_id": str(form_id), "submission_id": str(uuid.uuid4()),
                    "submitted_data": {"name": f"Customer {n}", "email": f"c{n}@example.com"}}, form_id=form_id)
    return time.perf_counter() - started


async def deliver_all(pool: asyncpg.Pool, sender_pool: asyncpg.Pool, concurrency: int) -> float:
    """Run the runner until no message is pending or sending (checked on the partial index of due messages)."""
    async with guarded_session(ALLOWED, user_agent="bench") as session:
        sender = SendWebhook(sender_pool, session, clock=utc_now, allowed_private_hosts=ALLOWED)
        runner = Runner(pool, {SEND_KIND: sender}, JobsConfig(concurrency=concurrency, poll_interval_seconds=0.05))
        started = time.perf_counter()
        async with runner.running(grace_seconds=5):
            while await pool.fetchval("SELECT EXISTS (SELECT FROM webhook_messages"
                                      " WHERE status IN ('pending', 'sending'))"):
                await asyncio.sleep(0.05)
        return time.perf_counter() - started


async def steady(pool: asyncpg.Pool, sender_pool: asyncpg.Pool, dsn: str, business_id: uuid.UUID,
                 healthy: uuid.UUID, slow: uuid.UUID | None, rate: float, duration: float,
                 concurrency: int) -> tuple[list[float], int]:
    """`rate` events a second for `duration` seconds to the healthy endpoint's form, each its own commit (as a
    form submission is), from a process of its own on the receiver's CPU, with the runner LISTENing as `serve`
    runs it; with `slow`, one event a second to that
    form's endpoint too (it answers after `--slow-seconds`, so its four slots stay taken).

    Returns:
        Each healthy message's seconds from its commit to its 2xx (`created_at`, taken just before the commit, to
        `delivered_at`, taken once the answer is in: a little over, never under), and how many send jobs ran.
    """
    async with guarded_session(ALLOWED, user_agent="bench") as session:
        sender = SendWebhook(sender_pool, session, clock=utc_now, allowed_private_hosts=ALLOWED)
        runner = Runner(pool, {SEND_KIND: sender}, JobsConfig(concurrency=concurrency), listen_dsn=dsn)
        first = await pool.fetchval("SELECT count(*) FROM webhook_messages")
        jobs = await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = $1", SEND_KIND)
        async with runner.running(grace_seconds=0):
            producer = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--produce", dsn, str(business_id), str(healthy), str(slow or ""),
                str(rate), str(duration), cwd=ROOT)
            if (os.cpu_count() or 1) >= 2:
                os.sched_setaffinity(producer.pid, {1})  # with the receiver: the outside world
            if await producer.wait():
                raise SystemExit("the producer failed")
            async with asyncio.timeout(60):
                while await pool.fetchval("SELECT EXISTS (SELECT FROM webhook_messages m JOIN webhook_endpoints e"
                                          " ON e.id = m.endpoint_id WHERE $1 = ANY(e.form_ids)"
                                          " AND m.status IN ('pending', 'sending'))", healthy):
                    await asyncio.sleep(0.05)
        rows = await pool.fetch("SELECT extract(epoch FROM m.delivered_at - m.created_at)::float8 AS seconds"
                                " FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id"
                                " WHERE $1 = ANY(e.form_ids) ORDER BY m.created_at OFFSET $2", healthy, first)
        jobs = await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = $1", SEND_KIND) - jobs
        return [r["seconds"] for r in rows], jobs


async def submit(pool: asyncpg.Pool, business_id: uuid.UUID, form_id: uuid.UUID, n: int) -> int:
    """One event in its own transaction, stamped once it has a connection (so `created_at` is close to the commit,
    not to a wait for the producer's pool)."""
    async with pool.acquire() as conn:
        return await webhook_outbox.enqueue(conn, business_id=business_id, event_type=FORM_SUBMITTED,
                                            data={"form_id": str(form_id), "submitted_data": {"n": n}},
                                            form_id=form_id, now=utc_now())


async def produce(dsn: str, business_id: uuid.UUID, healthy: uuid.UUID, slow: uuid.UUID | None, rate: float,
                  duration: float) -> None:
    """The submissions of `steady`, in a process of their own (as the web app is), each event its own commit."""
    pool = await asyncpg.create_pool(dsn, min_size=8, max_size=8, init=init_connection)
    assert pool is not None
    started = time.perf_counter()
    behind = 0
    sent: set[asyncio.Task[int]] = set()
    for n in range(int(rate * duration)):  # open loop: each event at its time, however long the last one takes
        wait = started + n / rate - time.perf_counter()
        behind += wait < -0.01
        await asyncio.sleep(max(0.0, wait))
        form_id = slow if slow is not None and n % int(rate) == 0 else healthy
        task = asyncio.create_task(submit(pool, business_id, form_id, n))
        sent.add(task)
        task.add_done_callback(sent.discard)
    await asyncio.gather(*sent)
    await pool.close()
    if behind:
        print(f"  (the producer was over 10 ms behind its pace for {behind} events)")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def run_steady(pool: asyncpg.Pool, sender_pool: asyncpg.Pool, dsn: str, port: int,
                     args: argparse.Namespace) -> None:
    """Part 1's second half: commit-to-2xx at a steady rate, alone, then beside an endpoint that takes 10 s."""
    business_id, forms = await seed(pool, port, 1)
    slow_form = uuid.uuid4()
    await webhook_endpoints.create(pool, business_id, url=f"http://127.0.0.1:{port}/slow/{args.slow_seconds:g}",
                                   event_types=(FORM_SUBMITTED,), form_ids=(slow_form,), enabled=True, now=utc_now())
    p99s = []
    phases = (("warm-up (not a result)", None, min(args.duration, 3.0)), ("alone", None, args.duration),
              (f"beside an endpoint taking {args.slow_seconds:g} s", slow_form, args.duration))
    for label, slow, duration in phases:
        # Each phase starts from the same tidy tables, not from the dead rows of the one before.
        await pool.execute("VACUUM (ANALYZE) webhook_messages, webhook_attempts, jobs")
        cpu = time.process_time()
        latencies, jobs = await steady(pool, sender_pool, dsn, business_id, forms[0], slow, args.rate, duration,
                                       args.concurrency)
        cpu = time.process_time() - cpu
        p99s.append(percentile(latencies, 0.99))
        print(f"{args.rate:g}/s for {duration:g} s {label}: {len(latencies)} delivered, commit-to-2xx"
              f" p50 {percentile(latencies, 0.5) * 1000:.1f} ms, p99 {p99s[-1] * 1000:.1f} ms,"
              f" max {max(latencies) * 1000:.1f} ms; {jobs} send jobs; bench process CPU {cpu:.1f} s")
    print(f"p99 beside the slow endpoint / alone: {p99s[2] / p99s[1]:.2f}")


async def warm(pool: asyncpg.Pool) -> None:
    """Open every connection of the pool now, so their backends are pinned with the database's."""
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    for conn in held:
        await pool.release(conn)


async def run(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-automations-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    dsn = start_embedded(scratch / "data")
    await migrate(dsn)
    postmaster = postmaster_of(scratch / "data")
    receiver, port = start_receiver()
    pinned = pin(postmaster, receiver.pid)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=args.concurrency + 4, init=init_connection)
    assert pool is not None
    sender_pool = await open_sender_pool(dsn)
    await warm(sender_pool)
    if args.rate:
        if pinned.startswith("runner"):
            pin(postmaster, receiver.pid)
        await run_steady(pool, sender_pool, dsn, port, args)
        print(f"{pinned}; load average: {Path('/proc/loadavg').read_text().strip()}")
        return
    business_id, forms = await seed(pool, port, args.endpoints)
    enqueue_seconds = await enqueue_all(pool, business_id, forms, args.messages, args.batch)
    if pinned.startswith("runner"):
        pin(postmaster, receiver.pid)  # the pool's backends started after the first pinning
    bench_cpu, db_cpu, receiver_cpu = time.process_time(), database_cpu(postmaster), cpu_seconds(receiver.pid)
    seconds = await deliver_all(pool, sender_pool, args.concurrency)
    bench_cpu, db_cpu = time.process_time() - bench_cpu, database_cpu(postmaster) - db_cpu
    receiver_cpu = cpu_seconds(receiver.pid) - receiver_cpu
    attempts = await pool.fetchval("SELECT count(*) FROM webhook_attempts")
    await sender_pool.close()
    await pool.close()
    receiver.kill()
    print(f"{args.messages} messages to {args.endpoints} endpoint(s), runner concurrency {args.concurrency}, {pinned}")
    print(f"queued: {args.messages / enqueue_seconds:,.0f} messages/s ({enqueue_seconds:.2f} s, {args.batch} per"
          " commit)")
    print(f"delivered: {args.messages / seconds:,.0f} messages/s ({seconds:.2f} s), attempts {attempts}")
    print(f"CPU during delivery: runner {bench_cpu:.1f} s, receiver {receiver_cpu:.1f} s, database {db_cpu:.1f} s;"
          f" runner + database {(bench_cpu + db_cpu) * 1000 / args.messages:.2f} ms per message")
    print(f"load average: {Path('/proc/loadavg').read_text().strip()}")
    if args.min_rate and args.messages / seconds < args.min_rate:
        raise SystemExit(f"below {args.min_rate} messages/s")


def main() -> None:
    if sys.argv[1:2] == ["--produce"]:
        dsn, business, healthy, slow, rate, duration = sys.argv[2:8]
        asyncio.run(produce(dsn, uuid.UUID(business), uuid.UUID(healthy), uuid.UUID(slow) if slow else None,
                            float(rate), float(duration)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--endpoints", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100, help="events queued per transaction")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="instead of a backlog: this many events a second, alone then beside a slow endpoint")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of each --rate phase")
    parser.add_argument("--slow-seconds", type=float, default=10.0, help="the slow endpoint's answer time")
    parser.add_argument("--min-rate", type=float, default=0.0, help="fail below this many messages/s (0: never)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
