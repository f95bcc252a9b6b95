"""Throughput of the email outbox: queued emails delivered by the job runner to a local SMTP server.

Starts the embedded database in a temporary folder and the local SMTP server
(`tests/fake_smtp.py`, aiosmtpd's protocol, every message parsed) in a process of its own,
queues `--emails` emails from the `test` template (each row and its `mail.send` job in one
transaction, `--batch` per commit), then runs one runner (`--concurrency` jobs at a time, one
SMTP connection per email, as in production) until every email is sent. Reports emails/s
over the delivery phase and the CPU seconds of the bench process (runner), the SMTP server
and the database.

    .venv/bin/python bench/outbox.py --emails 3000 --concurrency 16
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
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_server.embedded_db import start_embedded  # noqa: E402
from agent_server.migrations import migrate  # noqa: E402
from bench.limits import cpu_seconds, database_cpu, postmaster_of  # noqa: E402
from jobs.config import JobsConfig  # noqa: E402
from jobs.runner import Runner  # noqa: E402
from mail import outbox  # noqa: E402
from mail.rendering import render  # noqa: E402
from mail.sending import SendEmail  # noqa: E402
from mail.smtp import SmtpMailer, SmtpTarget  # noqa: E402
from storage.pool import init_connection  # noqa: E402

SENDER = "alerts@bench.example.com"


def start_smtp() -> tuple[subprocess.Popen[str], int]:
    """The local SMTP server in its own process; returns it and its port."""
    server = subprocess.Popen(
        [sys.executable, "-c", "from tests.fake_smtp import serve_forever; serve_forever()"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    port = int(server.stdout.readline())
    atexit.register(server.kill)
    return server, port


async def enqueue_all(pool: asyncpg.Pool, count: int, batch: int) -> float:
    """Queue `count` emails, `batch` per transaction; returns the seconds it took."""
    started = time.perf_counter()
    now = datetime.datetime.now(datetime.UTC)
    for first in range(0, count, batch):
        async with pool.acquire() as conn, conn.transaction():
            for n in range(first, min(first + batch, count)):
                content = render("test", {"recipient_name": f"Owner {n}", "business_name": "Bench & Co"})
                await outbox.enqueue(conn, content, recipient=f"owner{n}@example.com", dedupe_key=f"bench:{n}",
                                     now=now)
    return time.perf_counter() - started


async def deliver_all(pool: asyncpg.Pool, port: int, count: int, concurrency: int) -> float:
    """Run a runner until every email is sent; returns the seconds it took."""
    mailer = SmtpMailer(SmtpTarget.parse(f"smtp://127.0.0.1:{port}"), timeout_seconds=10)
    runner = Runner(pool, {outbox.SEND_KIND: SendEmail(pool, mailer, sender=SENDER)},
                    JobsConfig(concurrency=concurrency, poll_interval_seconds=0.05))
    started = time.perf_counter()
    async with runner.running(grace_seconds=5):
        while await pool.fetchval("SELECT count(*) FROM email_outbox WHERE status = 'sent'") < count:
            await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def run(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-outbox-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    dsn = start_embedded(scratch / "data")
    await migrate(dsn)
    postmaster = postmaster_of(scratch / "data")
    smtp, port = start_smtp()
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=args.concurrency + 2, init=init_connection)
    assert pool is not None
    enqueue_seconds = await enqueue_all(pool, args.emails, args.batch)
    bench_cpu, db_cpu, smtp_cpu = time.process_time(), database_cpu(postmaster), cpu_seconds(smtp.pid)
    seconds = await deliver_all(pool, port, args.emails, args.concurrency)
    bench_cpu, db_cpu = time.process_time() - bench_cpu, database_cpu(postmaster) - db_cpu
    smtp_cpu = cpu_seconds(smtp.pid) - smtp_cpu
    failed = await pool.fetchval("SELECT count(*) FROM email_outbox WHERE status <> 'sent'")
    await pool.close()
    smtp.kill()
    print(f"{args.emails} emails, concurrency {args.concurrency}, {os.cpu_count()} CPUs shared by runner, "
          f"SMTP server and database")
    print(f"queued: {args.emails / enqueue_seconds:,.0f} emails/s ({enqueue_seconds:.2f} s, {args.batch} per commit)")
    print(f"delivered: {args.emails / seconds:,.0f} emails/s ({seconds:.2f} s), not sent: {failed}")
    print(f"CPU during delivery: runner {bench_cpu:.1f} s, SMTP server {smtp_cpu:.1f} s, database {db_cpu:.1f} s "
          f"({args.emails / (bench_cpu + smtp_cpu + db_cpu):,.0f} emails per CPU-second)")
    if args.min_rate and args.emails / seconds < args.min_rate:
        raise SystemExit(f"below {args.min_rate} emails/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=100, help="emails queued per transaction")
    parser.add_argument("--min-rate", type=float, default=200.0, help="fail below this many emails/s (0: never)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
