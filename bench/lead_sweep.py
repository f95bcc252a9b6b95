"""The lead sweep over ended conversations against the fake LLM, with the event loop it runs in watched for stalls.

Starts the embedded database in a temporary folder and the OpenAI fake (`tests/fake_openai.py`,
every answer `--answer-ms` late, a valid analysis with a lead) in a process of its own, seeds
`--conversations` ended widget conversations (three messages each) of one funded business,
then (after a warm-up of 10 more) runs the `outcomes.lead_sweep` handler in this process until every one is analysed:
runs of at most 200, `--concurrency` LLM requests at a time, each analysis reserved, charged,
checked, its lead merged and its email queued, as in production. A 1 ms ticker in the same
loop records how late each tick woke: the longest is the worst stall a request handled by
this process (the in-process runner of `make run`) would have waited.

    .venv/bin/python bench/lead_sweep.py --conversations 1000 --concurrency 5 --answer-ms 200
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_server import agents, tenants  # noqa: E402
from agent_server.embedded_db import start_embedded  # noqa: E402
from agent_server.gc_tuning import tune_gc  # noqa: E402
from agent_server.migrations import migrate  # noqa: E402
from agent_server.reply_billing import WalletReplyPayment  # noqa: E402
from billing import ledger  # noqa: E402
from billing.config import BillingConfig  # noqa: E402
from billing.ledger import EntryKind  # noqa: E402
from billing.money import Money, parse_currency  # noqa: E402
from jobs.queue import Job  # noqa: E402
from media.llm.openai_sse import OpenAiSseChat  # noqa: E402
from outcomes.analysis import Analyser  # noqa: E402
from outcomes.config import OutcomesConfig  # noqa: E402
from outcomes.job_handlers import LEAD_SWEEP_KIND, LeadSweep  # noqa: E402
from outcomes.unsubscribe import Links  # noqa: E402
from storage.pool import init_connection  # noqa: E402

API_KEY = "bench-key"
# Analysed before the clock starts: first-request costs (imports, pool connections) are start-up's.
WARMUP = 10
ANSWER = {"summary": "Maria asked for a wedding cake quote.", "sentiment": "positive", "outcome": "needs_followup",
          "topics": ["wedding cake"],
          "lead": {"name": "Maria Lopez", "phone": None, "email": "maria@example.com", "company": None,
                   "intent": "wedding cake", "confidence": 80, "reason": "asked for a quote"}, "fields": {}}
FAKE = """
import asyncio, sys, orjson
from tests.fake_openai import FakeOpenAi, ScriptedReply
async def main():
    fake = FakeOpenAi(api_key=sys.argv[1], first_token_delay=float(sys.argv[2]))
    fake.state.default_reply = ScriptedReply(json=orjson.loads(sys.argv[3]))
    print(await fake.start(), flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def start_fake(answer_seconds: float) -> tuple[subprocess.Popen[str], str]:
    """The OpenAI fake in its own process (its CPU is not the sweep's); returns it and its base URL."""
    fake = subprocess.Popen([sys.executable, "-c", FAKE, API_KEY, str(answer_seconds), orjson.dumps(ANSWER).decode()],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert fake.stdout is not None
    base_url = fake.stdout.readline().strip()
    atexit.register(fake.kill)
    return fake, base_url


async def seed(pool: asyncpg.Pool, count: int) -> uuid.UUID:
    """One funded business with `count` ended, unanalysed widget conversations; returns the business."""
    business_id = await tenants.create_business(pool, "Bench Bakery")
    user_id = await tenants.create_user(pool, "owner@bench.example")
    await tenants.add_member(pool, business_id, user_id, "owner")
    agent_id = await agents.create_agent(pool, business_id, "Baker")
    await ledger.credit(pool, business_id=business_id, amount=Money(10**9, parse_currency("USD")),
                        kind=EntryKind.TOPUP, idempotency_key="bench-funds", reference="bench", actor="bench")
    ids = [uuid.uuid4() for _ in range(count)]
    ended = datetime.datetime.now(datetime.UTC)
    async with pool.acquire() as conn, conn.transaction():
        await conn.executemany("INSERT INTO widget_conversations (id, agent_id, business_id) VALUES ($1, $2, $3)",
                               [(i, agent_id, business_id) for i in ids])
        texts = [("user", "Hi, I'm Maria Lopez, I need a wedding cake"), ("assistant", "Lovely! How can we reach you?"),
                 ("user", "maria@example.com please")]
        await conn.executemany("INSERT INTO widget_messages (conversation_id, role, text) VALUES ($1, $2, $3)",
                               [(i, role, text) for i in ids for role, text in texts])
        await conn.executemany(
            "INSERT INTO conversation_outcomes (id, business_id, agent_id, channel, first_message_at, last_message_at,"
            " ended_at, end_reason) VALUES ($1, $2, $3, 'widget', $4, $4, $4, 'timeout')",
            [(i, business_id, agent_id, ended) for i in ids])
    return business_id


async def watch(lateness: list[tuple[float, float]], stop: asyncio.Event) -> None:
    """Tick every millisecond; record how late each tick woke, and the CPU this thread used meanwhile.

    A late tick with little CPU of ours was the machine's (another process had the core); one
    whose lateness is our CPU is a callback of this loop that ran too long.
    """
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started, cpu = time.perf_counter(), time.thread_time()
        await asyncio.sleep(0.001)
        lateness.append((time.perf_counter() - started - 0.001, time.thread_time() - cpu))


async def run(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-lead-sweep-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    dsn = start_embedded(scratch / "data")
    await migrate(dsn)
    fake, base_url = start_fake(args.answer_ms / 1000)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=args.concurrency + 4, init=init_connection)
    assert pool is not None
    await seed(pool, args.conversations + WARMUP)
    session = aiohttp.ClientSession()
    llm = OpenAiSseChat(session, API_KEY, base_url)
    config = OutcomesConfig(sweep_concurrency=args.concurrency)
    analyser = Analyser(pool, llm, WalletReplyPayment(pool, BillingConfig()), config,
                        links=Links("https://agent.example", b"bench-unsubscribe-key"),
                        clock=lambda: datetime.datetime.now(datetime.UTC))
    warmup = OutcomesConfig(sweep_concurrency=args.concurrency, sweep_batch=WARMUP)
    await LeadSweep(pool, analyser, warmup)(Job(0, LEAD_SWEEP_KIND, {}, None, None, 1,
                                                datetime.datetime.now(datetime.UTC)))
    tune_gc()  # as agent-server serve does once start-up is done
    sweep = LeadSweep(pool, analyser, config)
    lateness: list[tuple[float, float]] = []
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(lateness, stop))
    cpu, started, runs = time.process_time(), time.perf_counter(), 0
    while await pool.fetchval("SELECT count(*) FROM conversation_outcomes WHERE analysis_status = 'pending'"):
        await sweep(Job(runs, LEAD_SWEEP_KIND, {}, None, None, 1, datetime.datetime.now(datetime.UTC)))
        runs += 1
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    stop.set()
    await watcher
    statuses = dict(await pool.fetch("SELECT analysis_status, count(*) FROM conversation_outcomes GROUP BY 1"))
    leads = await pool.fetchval("SELECT count(*) FROM leads")
    await session.close()
    await pool.close()
    fake.kill()
    stalls_ms = sorted(late * 1000 for late, _ in lateness)
    # The part of each tick's lateness this process spent on the CPU: what its own callbacks blocked.
    own_ms = sorted(min(late, cpu) * 1000 for late, cpu in lateness)
    worst = own_ms[-1]
    print(f"{args.conversations} conversations, {runs} sweep runs (<= {config.sweep_batch} each), "
          f"{args.concurrency} LLM requests at a time, {args.answer_ms} ms per answer")
    print(f"swept in {seconds:.1f} s ({args.conversations / seconds:.1f} analyses/s; ideal "
          f"{args.conversations / args.concurrency * args.answer_ms / 1000:.1f} s), statuses {statuses}, leads {leads}")
    print(f"CPU of this process: {cpu:.1f} s ({cpu / args.conversations * 1000:.1f} ms per analysis)")
    print(f"event loop: {len(stalls_ms)} ticks, lateness median {statistics.median(stalls_ms):.2f} ms, "
          f"p99 {stalls_ms[int(len(stalls_ms) * 0.99)]:.2f} ms, worst {stalls_ms[-1]:.2f} ms, "
          f"over 5 ms: {sum(1 for s in stalls_ms if s > 5)}")
    print(f"  of which this process's own CPU: p99 {own_ms[int(len(own_ms) * 0.99)]:.2f} ms, worst {worst:.2f} ms, "
          f"over 5 ms: {sum(1 for s in own_ms if s > 5)} (the rest: the core was another process's)")
    failures = []
    if seconds > args.max_seconds:
        failures.append(f"took {seconds:.1f} s > {args.max_seconds} s")
    if worst > args.max_stall_ms:
        failures.append(f"a {worst:.1f} ms stall of our own > {args.max_stall_ms} ms")
    if statuses.get("analysed", 0) != args.conversations + WARMUP:
        failures.append("not every conversation was analysed")
    if failures:
        raise SystemExit("; ".join(failures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--answer-ms", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--max-stall-ms", type=float, default=5.0)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, as agent-server serve does")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.run(run(args))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
