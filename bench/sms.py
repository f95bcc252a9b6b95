"""The SMS platform against the Twilio fake: end-to-end throughput, carrier pacing, status callbacks, a 100k-row import.

Starts an embedded PostgreSQL in a temporary folder, the Twilio fake (`bench/sms_twilio.py`:
`tests/fake_twilio.py`'s Messages API plus Twilio's signed status callbacks) in its own
process, and, for each scenario, `agent-server serve` with its dispatcher and job runner
in-process (placement and CPU accounting: `bench/sms_stage.py`). Four scenarios, each with
the issue's pass rule:

1. ``throughput``: a transactional campaign of ``--texts`` texts (after a 200-text warm-up)
   from ``--numbers`` numbers at 100 MPS (a short code's or high-throughput 10DLC campaign's
   pace, ``[sms] long_code_mps = 100``; 1 MPS pacing is scenario 2's),
   each text claimed with its suppression and undeliverable checks, sent, paid from the
   campaign's hold (``sms:{sid}``), then ``sent`` and ``delivered`` by two signed callbacks.
   Messages/s from the start's commit to the last ``delivered``: >= 500/s.
2. ``pacing``: 200 long codes at 1 MPS, 75 texts queued on each, callbacks on; over the 60 s
   after the first text reaches Twilio each number sends 60 +/- 1, no number sends twice
   within one second (at the fake, and in the server's own claim times), 0 duplicates.
3. ``callbacks``: ``--callback-rate`` signed ``sent``/``delivered`` callbacks per second for
   ``--callback-seconds``, open loop (each due at its time whatever the answers; latency from
   that time): p99 <= 50 ms, every one 204, the rate held.
4. ``import``: a 100,000-row CSV (1% repeated phones, 0.5% invalid) posted to
   ``/api/contacts/import``; from the upload to ``done``: <= 20 s.

    .venv/bin/python bench/sms.py                      # all four
    .venv/bin/python bench/sms.py --scenarios throughput --texts 5000
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import collections
import datetime
import gc
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse
import uuid
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import aiohttp
import asyncpg
import uvloop
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_server import auth  # noqa: E402
from agent_server.config import load_settings  # noqa: E402
from agent_server.embedded_db import start_embedded  # noqa: E402
from agent_server.migrations import migrate  # noqa: E402
from bench import sms_seed as seed  # noqa: E402
from bench.limits import postmaster_of  # noqa: E402
from bench.sms_stage import JWT_SECRET, Meter, Twilio, config_with, cpu_set, pin_tree, server  # noqa: E402
from billing.money import Currency  # noqa: E402
from messaging.campaign_start import start  # noqa: E402
from messaging.config import SmsConfig  # noqa: E402
from storage.pool import init_connection  # noqa: E402

SCENARIOS = ("throughput", "pacing", "callbacks", "import")
WARMUP = 200


class Bench:
    """What every scenario shares: the database, the Twilio fake, the server's environment, the verdicts."""

    def __init__(self, args: argparse.Namespace, scratch: Path, dsn: str, pool: asyncpg.Pool, twilio: Twilio) -> None:
        self.args, self.scratch, self.dsn, self.pool, self.twilio = args, scratch, dsn, pool, twilio
        self.failures: list[str] = []
        self.senders_used = 0
        self.env = {**os.environ, "DATABASE_URL": dsn, "SUPABASE_JWT_SECRET": JWT_SECRET, "LOG_LEVEL": "warning",
                    "TWILIO_ACCOUNT_SID": twilio_sid(), "TWILIO_AUTH_TOKEN": "fake-twilio-auth-token",
                    "TWILIO_API_BASE": twilio.base_url}
        for var in ("STRIPE_SECRET_KEY", "PORT", "OPENAI_API_KEY", "SMTP_URL"):
            self.env.pop(var, None)

    def server(self, **overrides: str) -> AbstractAsyncContextManager[tuple[str, int]]:
        env = dict(self.env)
        if overrides:
            env["AGENT_SERVER_CONFIG"] = str(config_with(overrides, self.scratch))
        return server(env, self.args.server_cpus, self.scratch / "server.log")

    def meter(self, server_pid: int) -> Meter:
        return Meter(server_pid, postmaster_of(self.scratch / "data"), self.twilio.process.pid)

    async def numbers(self, business_id: uuid.UUID, count: int) -> list[tuple[uuid.UUID, str]]:
        phones = [seed.sender(self.senders_used + i) for i in range(count)]
        self.senders_used += count
        await self.twilio.own(phones)
        return list(zip(await seed.numbers(self.pool, business_id, phones), phones, strict=True))

    def verdict(self, name: str, ok: bool, why: str) -> None:
        print(f"  {name}: {'PASS' if ok else 'FAIL'} ({why})")
        if not ok:
            self.failures.append(f"{name}: {why}")


def twilio_sid() -> str:
    return "AC" + "0123456789abcdef" * 2


async def delivered_by(pool: asyncpg.Pool, campaign_id: uuid.UUID, count: int, timeout: float) -> datetime.datetime:
    """When the campaign's last text was delivered (its row's time), waiting for all `count` of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = await pool.fetchrow("SELECT count(*) AS n, max(updated_at) AS last FROM sms_outbox WHERE campaign_id = $1"
                                  " AND status = 'delivered'", campaign_id)
        assert row is not None
        if row["n"] >= count:
            last: datetime.datetime = row["last"]
            return last
        await asyncio.sleep(0.2)
    raise RuntimeError(f"campaign {campaign_id}: not every text delivered within {timeout:.0f} s")


async def throughput(bench: Bench) -> None:
    args, pool = bench.args, bench.pool
    business_id, _ = await seed.business(pool, "Throughput Co")
    senders = await bench.numbers(business_id, args.numbers)
    ids = [number_id for number_id, _ in senders]
    warm = await seed.campaign(pool, business_id, ids, 0, WARMUP, "warm")
    main = await seed.campaign(pool, business_id, ids, WARMUP, args.texts, "main")
    await pool.execute("ANALYZE")  # as autovacuum keeps a live database
    config = SmsConfig(long_code_mps=100.0)  # as the server's: the start spreads each number's texts at its pace
    async with bench.server(long_code_mps="100.0") as (_, pid):
        await start(pool, business_id, warm, config, Currency.USD, now=datetime.datetime.now(datetime.UTC))
        await delivered_by(pool, warm, WARMUP, 60)
        meter = bench.meter(pid)
        await start(pool, business_id, main, config, Currency.USD, now=datetime.datetime.now(datetime.UTC))
        began = datetime.datetime.now(datetime.UTC)
        meter.start()
        last = await delivered_by(pool, main, args.texts, 600)
        usage = meter.stop(wall=(last - began).total_seconds())
    rate = args.texts / usage.wall
    paid = await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'sms_usage' AND reference = $1",
                               f"campaign:{main}")
    print(f"throughput: {args.texts} campaign texts from {args.numbers} numbers, each claimed, sent, paid from the hold "
          f"and called back twice: {rate:,.0f} messages/s; {usage.describe()}")
    print(f"  {usage.per_message(args.texts)}")
    bench.verdict("throughput", rate >= 500 and paid == args.texts,
                  f"{rate:,.0f} messages/s, target >= 500; {paid} of {args.texts} paid")


def window_counts(times: list[float], t0: float, seconds: float) -> int:
    return sum(1 for t in times if t0 <= t < t0 + seconds)


def min_gap(times: list[float]) -> float:
    ordered = sorted(times)
    return min((b - a for a, b in zip(ordered, ordered[1:], strict=False)), default=float("inf"))


async def pacing(bench: Bench) -> None:
    pool, count, per_number, seconds = bench.pool, 200, 75, 60.0
    business_id, _ = await seed.business(pool, "Pacing Co")
    senders = await bench.numbers(business_id, count)
    queued = await seed.queued_texts(pool, business_id, senders, per_number)
    await pool.execute("ANALYZE")
    before = len(await bench.twilio.arrivals())
    # A 200-number fleet's config: 32 in flight caps it at 32 / Twilio's answer time, 50 a claim at 4 claims a second,
    # and a pool of 10 (shared by claims, payments, 200 recorded answers and 400 callbacks a second) made claims wait.
    async with bench.server(max_in_flight="128", claim_batch="200", pool_max_size="20") as (_, pid):
        meter = bench.meter(pid)
        meter.start()
        while (await bench.twilio.stats())["messages"] == before:
            await asyncio.sleep(0.05)
        t0 = min(a[0] for a in (await bench.twilio.arrivals())[before:])
        await asyncio.sleep(max(0.0, t0 + seconds + 1.0 - time.time()))
        usage = meter.stop()
        arrivals = (await bench.twilio.arrivals())[before:]
    await pool.execute("UPDATE sms_outbox SET status = 'canceled' WHERE business_id = $1 AND status = 'queued'",
                       business_id)
    by_number: dict[str, list[float]] = collections.defaultdict(list)
    for at, sender, _, _ in arrivals:
        by_number[sender].append(at)
    counts = sorted(window_counts(times, t0, seconds) for times in by_number.values())
    fake_gap = min(min_gap(times) for times in by_number.values())
    claims = await pool.fetch("SELECT number_id, array_agg(extract(epoch FROM send_started_at)::float8) AS t"
                              " FROM sms_outbox WHERE business_id = $1 AND send_started_at IS NOT NULL"
                              " GROUP BY number_id", business_id)
    claim_gap = min(min_gap(r["t"]) for r in claims)
    bodies = collections.Counter(body for *_, body in arrivals)
    duplicates = sum(n - 1 for n in bodies.values() if n > 1)
    in_window = sum(counts)
    print(f"pacing: {count} long codes at 1 MPS, {queued} texts queued: {in_window} sent in the {seconds:.0f} s after "
          f"the first ({in_window / seconds:.1f}/s); per number min {counts[0]}, max {counts[-1]}, numbers that sent "
          f"{len(counts)}; closest two sends of one number: {fake_gap * 1000:.1f} ms apart at Twilio, "
          f"{claim_gap * 1000:.1f} ms in the server's claims; duplicates {duplicates}; {usage.describe()}")
    print(f"  {usage.per_message(max(1, in_window))}")
    bench.verdict("pacing", len(counts) == count and counts[0] >= 59 and counts[-1] <= 61 and fake_gap >= 1.0
                  and claim_gap >= 1.0 and duplicates == 0,
                  f"{counts[0]}-{counts[-1]} per number, closest sends {fake_gap:.3f} s, {duplicates} duplicates")


async def callbacks(bench: Bench) -> None:
    args, pool = bench.args, bench.pool
    total = int(args.callback_rate * args.callback_seconds)
    business_id, _ = await seed.business(pool, "Callbacks Co")
    [number] = await bench.numbers(business_id, 1)
    texts = await seed.sent_texts(pool, business_id, number, (total + 1) // 2)
    await pool.execute("ANALYZE")
    await bench.twilio.callbacks(False)
    try:
        async with bench.server() as (base, pid):
            requests = signed_callbacks(base, texts, total, number[1])
            await fire(base, requests[:200], args.callback_rate)  # warm-up: connections, first statements
            meter = bench.meter(pid)
            meter.start()
            latencies, statuses, lateness = await fire(base, requests[200:], args.callback_rate)
            usage = meter.stop()
    finally:
        await bench.twilio.callbacks(True)
    done = await pool.fetchval("SELECT count(*) FROM sms_outbox WHERE business_id = $1 AND status = 'delivered'",
                               business_id)
    ordered = sorted(latencies)
    p50, p99 = ordered[len(ordered) // 2] * 1000, ordered[int(len(ordered) * 0.99)] * 1000
    rate = len(ordered) / usage.wall
    print(f"callbacks: {len(ordered)} signed callbacks at {args.callback_rate:,.0f}/s offered, {rate:,.0f}/s answered; "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ordered[-1] * 1000:.1f} ms; statuses {dict(statuses)}; "
          f"generator late by up to {lateness * 1000:.1f} ms; delivered {done} of {len(texts)}; {usage.describe()}")
    print(f"  {usage.per_message(len(ordered))}")
    bench.verdict("callbacks", p99 <= 50 and set(statuses) == {204} and rate >= 0.98 * args.callback_rate,
                  f"p99 {p99:.1f} ms, target <= 50 ms; {rate:,.0f}/s of {args.callback_rate:,.0f}/s")


def signed_callbacks(base: str, texts: list[tuple[uuid.UUID, str, str]], total: int,
                     sender: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """Each text's `sent` then `delivered` callback, signed as Twilio signs them, ready to post."""
    validator = RequestValidator("fake-twilio-auth-token")
    requests = []
    for n in range(total):
        message_id, sid, to = texts[n // 2]
        url = f"{base}/api/sms/status?m={message_id}"
        status = "sent" if n % 2 == 0 else "delivered"
        params = {"AccountSid": twilio_sid(), "ApiVersion": "2010-04-01", "From": sender, "MessageSid": sid,
                  "MessageStatus": status, "SmsSid": sid, "SmsStatus": status, "To": to}
        requests.append((url, urllib.parse.urlencode(params).encode(), {"X-Twilio-Signature": validator.compute_signature(url, params),
                                              "Content-Type": "application/x-www-form-urlencoded"}))
    return requests


async def fire(base: str, requests: list[tuple[str, bytes, dict[str, str]]],
               rate: float) -> tuple[list[float], collections.Counter[int], float]:
    """Post each request at its due time (open loop); latency counts from the due time, not the send."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()
    lateness = 0.0
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(url: str, body: bytes, headers: dict[str, str], due: float) -> None:
            async with session.post(url, data=body, headers=headers) as answer:
                await answer.read()
            latencies.append(loop.time() - due)
            statuses[answer.status] += 1

        gc.disable()
        try:
            began, tasks = loop.time(), []
            for n, (url, body, headers) in enumerate(requests):
                due = began + n / rate
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                lateness = max(lateness, loop.time() - due)
                tasks.append(asyncio.create_task(one(url, body, headers, due)))
            await asyncio.gather(*tasks)
        finally:
            gc.enable()
    return latencies, statuses, lateness


async def import_csv(bench: Bench) -> None:
    pool, rows = bench.pool, bench.args.import_rows
    business_id, user_id = await seed.business(pool, "Import Co")
    data = seed.contacts_csv(rows)
    token = auth.mint_token(load_settings(env={"SUPABASE_JWT_SECRET": JWT_SECRET}).auth, user_id)
    headers = {"Authorization": f"Bearer {token}"}
    async with bench.server() as (base, pid), aiohttp.ClientSession(headers=headers) as session:
        meter = bench.meter(pid)
        meter.start()
        began = time.perf_counter()
        async with session.post(f"{base}/api/contacts/import", data=data, params={
                "businessId": str(business_id), "consentSource": "bench"},
                headers={"Content-Type": "text/csv"}) as answer:
            assert answer.status == 202, await answer.text()
            import_id = (await answer.json())["importId"]
        while True:
            async with session.get(f"{base}/api/contacts/imports/{import_id}") as answer:
                found = await answer.json()
            if found["status"] in ("done", "failed"):
                break
            await asyncio.sleep(0.1)
        usage = meter.stop(wall=time.perf_counter() - began)
    print(f"import: {rows:,} rows ({len(data) / 2**20:.1f} MiB): {found['status']} in {usage.wall:.1f} s, "
          f"counts {found['counts']}; {usage.describe()}")
    bench.verdict("import", found["status"] == "done" and usage.wall <= 20,
                  f"{usage.wall:.1f} s, target <= 20 s")


async def run(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # stop the processes we started
    scratch = Path(tempfile.mkdtemp(prefix="bench-sms-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    if args.load_cpus:
        os.sched_setaffinity(0, cpu_set(args.load_cpus))
    dsn = start_embedded(scratch / "data")
    pin_tree(postmaster_of(scratch / "data"), args.load_cpus)
    await migrate(dsn)
    twilio = Twilio(args.load_cpus, args.posters)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=8, init=init_connection)
    assert pool is not None
    bench = Bench(args, scratch, dsn, pool, twilio)
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"setup: server on CPU {args.server_cpus or 'any'}, database + Twilio fake + bench on CPU "
          f"{args.load_cpus or 'any'} ({os.cpu_count()} CPUs, shared with other work); server log {scratch}/server.log")
    try:
        for name in args.scenarios:
            await {"throughput": throughput, "pacing": pacing, "callbacks": callbacks, "import": import_csv}[name](bench)
    finally:
        await pool.close()
        await twilio.close()
    if bench.failures:
        print("FAILED: " + "; ".join(bench.failures))
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--texts", type=int, default=5000, help="campaign texts in the throughput scenario")
    parser.add_argument("--numbers", type=int, default=10, help="sending numbers in the throughput scenario")
    parser.add_argument("--callback-rate", type=float, default=1000.0)
    parser.add_argument("--callback-seconds", type=float, default=10.0)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--posters", type=int, default=16, help="callbacks the Twilio fake posts at once")
    parser.add_argument("--server-cpus", default="0", help="taskset list for the server ('' : unpinned)")
    parser.add_argument("--load-cpus", default="1", help="taskset list for the database, fake and bench")
    sys.exit(uvloop.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
