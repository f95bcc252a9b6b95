"""Latency of the knowledge base's full-text search (`knowledge.index.search`) at 50,000 chunks over 20 agents.

Starts the embedded database in a temporary folder, writes `--chunks` chunks of about 300
words (drawn from a Zipf-distributed vocabulary of made-up words, so a few words are in most
chunks and most words in few) spread over `--agents` agents' active versions, then asks
`--queries` questions (half of 2-3 common words, half of 4-9 rarer ones), one at a time, as a chat turn does: the AND query first,
the OR of the terms when AND finds nothing. Reports p50/p99/max per stage actually used, the
database backend's CPU time per search (from /proc: less sensitive than latency to other work on
the machine) and the load average before and after.

    .venv/bin/python bench/knowledge_search.py --chunks 50000 --agents 20 --queries 1000

Writing 50,000 chunks takes minutes; `--keep DIR` keeps the database there and later runs reuse it.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime
import os
import random
import shutil
import statistics
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
from knowledge import index  # noqa: E402
from storage.pool import init_connection  # noqa: E402

_SYLLABLES = ["ka", "lo", "mi", "ren", "to", "sa", "vel", "dor", "pi", "nu", "gar", "tes", "bo", "lin", "qua", "fe"]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (the database backend serving the searches)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def zipf_words(rng: random.Random, words: list[str], count: int) -> list[str]:
    weights = [1 / (rank + 1) for rank in range(len(words))]
    return rng.choices(words, weights=weights, k=count)


async def fill(pool: asyncpg.Pool, rng: random.Random, words: list[str], chunks: int, agents: int) -> list[uuid.UUID]:
    """One business, `agents` agents with one website source each, `chunks` chunks in their active versions."""
    now = datetime.datetime.now(datetime.UTC)
    business = await pool.fetchval("INSERT INTO businesses (name) VALUES ('Bench') RETURNING id")
    agent_ids: list[uuid.UUID] = []
    per_agent = chunks // agents
    for a in range(agents):
        agent = await pool.fetchval("INSERT INTO agents (business_id, name) VALUES ($1, $2) RETURNING id",
                                    business, f"Agent {a}")
        source = await pool.fetchval(
            "INSERT INTO kb_sources (business_id, agent_id, kind, url, active_version) VALUES ($1, $2, 'website',"
            " 'https://bench.example/', 1) RETURNING id", business, agent)
        rows = []
        page = 0
        for n in range(per_agent):
            if n % 5 == 0:  # five chunks a page
                page = await pool.fetchval(
                    "INSERT INTO kb_pages (source_id, business_id, version, url, canonical_url, title, content_hash,"
                    " text_bytes, fetched_at) VALUES ($1, $2, 1, $3, $3, $4, $3, 2000, $5) RETURNING id",
                    source, business, f"https://bench.example/{a}/{n}", " ".join(zipf_words(rng, words, 4)), now)
            rows.append((page, source, business, agent, 1, n, "", f"Page {n}",
                         f"https://bench.example/{a}/{n // 5}", " ".join(zipf_words(rng, words, 300))))
        await pool.copy_records_to_table(
            "kb_chunks", records=rows, columns=["page_id", "source_id", "business_id", "agent_id", "version",
                                                 "position", "heading_path", "title", "url", "content"])
        agent_ids.append(agent)
    # As publishing does (knowledge/index.py): the index's pending list merged, else every search reads it.
    await pool.execute("SELECT gin_clean_pending_list('kb_chunks_agent_tsv'::regclass)")
    await pool.execute("ANALYZE kb_chunks")
    return agent_ids


async def run(args: argparse.Namespace) -> None:
    if args.keep is None:
        scratch = Path(tempfile.mkdtemp(prefix="bench-knowledge-"))
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        data = scratch / "data"
    else:
        data = args.keep
    filled = (data / "PG_VERSION").exists()
    dsn = start_embedded(data)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, init=init_connection)
    assert pool is not None
    rng = random.Random(15)
    words = vocabulary(rng, args.vocabulary)
    if filled:
        agents = [r["id"] for r in await pool.fetch("SELECT id FROM agents ORDER BY created_at, id")]
        count = await pool.fetchval("SELECT count(*) FROM kb_chunks")
        print(f"{count:,} chunks over {len(agents)} agents, kept in {data} by an earlier run")
    else:
        await migrate(dsn)
        started = time.perf_counter()
        agents = await fill(pool, rng, words, args.chunks, args.agents)
        print(f"{args.chunks:,} chunks over {args.agents} agents written in {time.perf_counter() - started:.1f} s")
    await pool.close()
    rng = random.Random(16)  # the questions: the same whether the chunks were just written or kept
    # One connection: one backend, whose CPU time is read before and after.
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1, init=init_connection)
    assert pool is not None
    backend = await pool.fetchval("SELECT pg_backend_pid()")
    stages: dict[str, list[float]] = {"and": [], "or": []}
    for _ in range(50):  # warm the plan cache and the buffers
        await index.search(pool, rng.choice(agents), " ".join(zipf_words(rng, words, 5)), language="english", limit=4)
    load_before, cpu_before = load_average(), cpu_seconds(backend)
    for _ in range(args.queries):
        if rng.random() < 0.5:  # common words: most chunks hold all of them, the AND query answers
            question = " ".join(rng.sample(words[:50], rng.randint(2, 3)))
        else:  # a wordy question: AND finds nothing, the OR of its terms ranks thousands of chunks
            question = " ".join(rng.sample(words[: args.vocabulary // 4], rng.randint(4, 9)))
        agent = rng.choice(agents)
        before = time.perf_counter()
        hits = await index.search(pool, agent, question, language="english", limit=4)
        elapsed = (time.perf_counter() - before) * 1000
        terms = len(set(question.split()))
        stages["and" if hits and hits[0].score >= terms else "or"].append(elapsed)  # AND: every term held
    cpu = (cpu_seconds(backend) - cpu_before) * 1000 / args.queries
    await pool.close()
    print(f"database CPU {cpu:.2f} ms per search; load average {load_before} before, {load_average()} after")
    for stage, times in stages.items():
        if times:
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(f"{stage:>3}: {len(times)} queries, p50 {statistics.median(times):.2f} ms, p99 {p99:.2f} ms,"
                  f" max {times[-1]:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=50_000)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--vocabulary", type=int, default=20_000)
    parser.add_argument("--keep", type=Path, default=None,
                        help="the database's folder: filled on the first run (minutes), reused by later ones")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
