"""Crawl throughput end to end, and the web process's event-loop lag meanwhile, against `agent-server serve`.

Starts the embedded database in a temporary folder, seeds a business with one agent,
serves a generated site (`bench/generated_site.py`: `--pages` pages of about 50 KB) on
127.0.0.1 from this process, and starts `agent-server serve` as its own process with the
in-process job runner, the latency probe (`bench/probe`) and, for the bench host only,
127.0.0.1 allowed and no politeness delay (`request_interval_seconds` 0.001; robots.txt sets
no Crawl-delay). Then it adds the site as a website source through
`POST /api/agents/{id}/knowledge/sources` (maxPages = pages, maxDepth 10) and polls the
crawl until it ends: the job fetches every page, extracts it in the extraction processes,
chunks it and publishes the lot in one transaction.

Reports pages indexed, pages/s from the source's creation to the crawl's end (queueing,
fetching, extracting and publishing), the server's event-loop lag during the crawl (5 ms
timer, from the probe, reset when the source is added), CPU time of the server, its
extraction processes, the database and this process (the site), and the load average.

    .venv/bin/python bench/crawl_throughput.py --pages 1000
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import generated_site
from served import ROOT, cpu_seconds, database_cpu_seconds, load_average, probe_lines, seed, serving

from agent_server.embedded_db import start_embedded


def children_cpu_seconds(parent: int) -> float:
    """CPU time of the live processes `parent` started (the extraction pool, its resource tracker)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                total += cpu_seconds(int(entry.name))
    return total


def instant(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def run(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    dsn = start_embedded(scratch / "data")
    tenant = await seed(dsn)
    site = generated_site.GeneratedSite(args.pages)
    overrides = {"allowed_private_hosts": '["127.0.0.1"]', "request_interval_seconds": "0.001",
                 "connections_per_host": str(args.connections), "extraction_workers": str(args.workers)}
    probe = scratch / "probe"
    env = {"LATENCY_PROBE": str(probe), "PYTHONPATH": str(ROOT / "bench" / "probe")}
    async for server_site in generated_site.serve(site):
        async with serving(dsn, scratch, overrides, env) as (base, server), aiohttp.ClientSession(
                base, headers={"Authorization": f"Bearer {tenant.token}"}) as session:
            sources = f"/api/agents/{tenant.agent_id}/knowledge/sources"
            body = {"type": "website", "url": str(server_site.make_url("/")), "maxPages": args.pages, "maxDepth": 10}
            load_before = load_average()
            os.kill(server.pid, signal.SIGUSR1)  # the probe forgets start-up: lag from here on
            cpu_before = (cpu_seconds(server.pid), children_cpu_seconds(server.pid),
                          database_cpu_seconds(scratch / "data"), cpu_seconds(os.getpid()))
            async with session.post(sources, json=body) as response:
                created = await response.json()
                if response.status != 201:
                    raise SystemExit(f"POST {sources}: {response.status} {created}")
            crawl_path = f"/api/agents/{tenant.agent_id}/knowledge/crawls/{created['crawlId']}"
            while True:
                async with session.get(crawl_path) as response:
                    crawl = await response.json()
                if crawl["status"] not in ("queued", "running"):
                    break
                await asyncio.sleep(0.2)
            lag = await probe_lines(probe, server.pid)
            cpu_after = (cpu_seconds(server.pid), children_cpu_seconds(server.pid),
                         database_cpu_seconds(scratch / "data"), cpu_seconds(os.getpid()))
    server_cpu, extraction_cpu, database_cpu, site_cpu = (a - b for a, b in zip(cpu_after, cpu_before))
    source_created = instant(created["source"]["createdAt"])
    elapsed = (instant(crawl["finishedAt"]) - source_created).total_seconds()
    crawling = (instant(crawl["finishedAt"]) - instant(crawl["startedAt"])).total_seconds()
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"site: {args.pages} pages, {sum(map(len, site.pages.values())) / args.pages / 1000:.1f} KB each on"
          f" average, {site.requests} requests answered; {args.connections} connections, {args.workers}"
          f" extraction process(es), {os.cpu_count()} CPUs shared by server, database, extraction and site")
    print(f"crawl {crawl['status']}: found {crawl['found']}, fetched {crawl['fetched']}, indexed {crawl['indexed']},"
          f" skipped {len(crawl['skipped'])}{' ' + str(crawl['error']) if crawl['error'] else ''}")
    print(f"end to end {elapsed:.1f} s: {crawl['indexed'] / elapsed:.1f} pages/s"
          f" (job running {crawling:.1f} s: {crawl['indexed'] / crawling:.1f} pages/s)")
    print("server event loop during the crawl: " + "; ".join(line.strip().removeprefix("load: ") for line in lag))
    print(f"CPU: server {server_cpu:.1f} s, extraction {extraction_cpu:.1f} s, database {database_cpu:.1f} s,"
          f" site and bench {site_cpu:.1f} s; load average {load_before} before, {load_average()} after")
    if crawl["status"] != "completed":
        raise SystemExit("FAIL: the crawl did not complete")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=2, help="[knowledge] connections_per_host")
    parser.add_argument("--workers", type=int, default=1, help="[knowledge] extraction_workers")
    started = time.perf_counter()
    asyncio.run(run(parser.parse_args()))
    print(f"bench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
