"""Soak: many short calls through one `agent-server serve` process, and what the process keeps after them.

First ``--warmup`` calls (not counted, ``--warmup-concurrency`` at a time) bring the process
to its working size: its RSS rises by about 5 MiB over its first ~500 calls whatever the
load (measured: the same with 10 or 30 at a time and with a database pool of 3 instead of
10; tracemalloc in the server saw Python's own allocations grow far less, so it is the
allocator's heap settling), then stays flat. Then the ``--calls`` calls run ``--concurrency``
at a time (greeting, one question, its answer, hang-up: about 1.4 s each, the fakes' audio
kept short). Right after warm-up and after every ``--sample-every`` calls, new calls wait
until the server holds none and has analysed them all (its job queue holds nothing due),
idle keep-alive connections on both sides are closed (the load generator's to the server,
the fakes' to the server: a real provider drops idle ones too) and have left the server,
which is then sampled at rest, from outside: its asyncio tasks (the ``agent_asyncio_tasks``
gauge of ``/metrics``), open file descriptors and sockets by kind (``/proc/<pid>/fd``,
``/proc/<pid>/net/tcp``), threads and RSS (``/proc/<pid>/status``).

Pass rule: no sample has more tasks, fds or sockets than the baseline (the sample right
after warm-up), RSS grows by at most 5 MiB per 10,000 calls on a least-squares line through
the samples (for a run shorter than 10,000 calls the line is extrapolated: the figure is per
10,000 calls whatever N was), and every call hears its answer. A failed call is printed with
its story as the caller lived it, and the server's log is kept (``--log-level info`` adds
each call's end, with its barge-ins).

The providers are faked in this process (``tests/fake_deepgram.py``, ``tests/fake_openai.py``
on one port), the caller is ``bench/light_caller.py``, PostgreSQL is an embedded server.

Usage::

    .venv/bin/python bench/soak.py --calls 10000 [--concurrency 10] [--sample-every 100] [--warmup 500]
                                  [--warmup-concurrency 20] [--log-level warning]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
from aiohttp import web  # noqa: E402

from agent_server import agents, tenants  # noqa: E402
from agent_server.embedded_db import start_embedded, stop_embedded  # noqa: E402
from agent_server.migrations import migrate  # noqa: E402
from billing import ledger  # noqa: E402
from billing.ledger import EntryKind  # noqa: E402
from billing.money import Currency, Money  # noqa: E402
from llm_usage import token_settings  # noqa: E402
from phone_numbers import registry  # noqa: E402
from storage.pool import init_connection  # noqa: E402
from tests.audio_samples import silence_mulaw, tone_mulaw  # noqa: E402
from tests.fake_deepgram import FakeDeepgram  # noqa: E402
from tests.fake_http import serve_locally  # noqa: E402
from tests.fake_openai import FakeOpenAi, ScriptedReply  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from light_caller import LightCaller, LightCallResult, Line  # noqa: E402
from soak_process import (  # noqa: E402
    read_metrics,
    read_process,
    wait_for,
    wait_for_connections_closed,
    wait_for_jobs_done,
)

AUTH_TOKEN = "soak-auth-token"
API_KEY = "fake"
NUMBER = "+14155550100"
VOICE_PATH = "/api/voice-agent/handle-call"
RSS_BUDGET_MIB_PER_10K = 5.0


@dataclass(frozen=True)
class Sample:
    """The server at rest after ``calls`` calls."""

    calls: int
    tasks: int
    fds: int
    sockets: int
    rss_kib: int
    seconds: float
    socket_kinds: dict[str, int]
    threads: int


@dataclass(frozen=True)
class Verdict:
    baseline: Sample
    growth: dict[str, int]
    """Most tasks, fds and sockets of any sample after the baseline, minus the baseline's."""
    rss_mib_per_10k: float
    failures: dict[str, int]
    """Calls that did not hear their answer, by reason."""

    @property
    def passed(self) -> bool:
        return (not self.failures and all(v <= 0 for v in self.growth.values())
                and self.rss_mib_per_10k <= RSS_BUDGET_MIB_PER_10K)


def judge(samples: Sequence[Sample], failures: Sequence[str]) -> Verdict:
    """The pass rule over the baseline (the first sample, right after warm-up) and the samples after it."""
    if len(samples) < 2:
        raise ValueError("the pass rule needs a sample after the baseline: run at least --sample-every calls")
    base, later = samples[0], samples[1:]
    growth = {kind: max(getattr(s, kind) for s in later) - getattr(base, kind) for kind in ("tasks", "fds", "sockets")}
    return Verdict(base, growth, rss_slope_kib_per_call(samples) * 10_000 / 1024, dict(Counter(failures)))


def rss_slope_kib_per_call(samples: Sequence[Sample]) -> float:
    """Least-squares slope of RSS against calls made."""
    n = len(samples)
    mean_x = sum(s.calls for s in samples) / n
    mean_y = sum(s.rss_kib for s in samples) / n
    spread = sum((s.calls - mean_x) ** 2 for s in samples)
    return sum((s.calls - mean_x) * (s.rss_kib - mean_y) for s in samples) / spread


class Fakes:
    """Deepgram and OpenAI on one port, answering briefly so that a call is short."""

    def __init__(self) -> None:
        self.deepgram = FakeDeepgram(api_key=API_KEY, speak_bytes_per_char=80, final_delay=0.02)
        self.deepgram.state.default_transcript = "When do you open?"
        self.openai = FakeOpenAi(api_key=API_KEY)
        self.openai.state.default_reply = ScriptedReply(text="We open at nine.")
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        self.deepgram.add_routes(app)
        self.openai.add_routes(app)
        self.runner, port = await serve_locally(app)
        self.url = f"http://127.0.0.1:{port}"

    def rest(self) -> None:
        """Drop idle keep-alive connections (as a provider does) and what the fakes recorded."""
        assert self.runner is not None and self.runner.server is not None
        for connection in self.runner.server.connections:
            connection.force_close()
        for recorded in (self.deepgram.state.speak_requests, self.deepgram.state.listen_queries,
                         self.openai.state.chat_requests, self.openai.state.authorizations,
                         self.openai.state.chat_peer_ports, self.openai.state.token_times):
            recorded.clear()


async def seed(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        business = await tenants.create_business(conn, "Soak")
        agent = await agents.create_agent(conn, business, "Soak", greeting="Hello, you called Soak.",
                                          system_prompt="You answer the phone.")
        await registry.add_number(conn, business, NUMBER, agent_id=agent)
        # The bench measures what thousands of calls leave behind, not the token caps: this agent's daily and monthly caps are lifted.
        await token_settings.update(conn, agent, {"daily_limit": None, "monthly_limit": None})
        await ledger.credit(conn, business_id=business, amount=Money(1_000_000_000, Currency.USD),
                            kind=EntryKind.TOPUP, idempotency_key="soak-funds", reference="soak", actor="soak")
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def failure(result: LightCallResult | BaseException) -> str | None:
    """Why the call did not hear the greeting and its answer (none of it silence), or None."""
    if isinstance(result, BaseException):
        return type(result).__name__
    if result.refused_with is not None:
        return f"refused: {result.refused_with}"
    if result.replies < 2:
        return f"{result.replies} replies"
    return "silent audio" if result.audio_silent else None


async def run_calls(url: str, count: int, concurrency: int, line: Line) -> list[str]:
    """``count`` calls, ``concurrency`` at a time, on a session closed afterwards; returns the failures' reasons."""
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as http:
        caller = LightCaller(url, AUTH_TOKEN, http, voice_path=VOICE_PATH, quiet_timeout=10.0)

        async def one(n: int) -> LightCallResult | BaseException:
            async with gate:
                try:
                    return await caller.call(NUMBER, [line], from_number=f"+1555{n % 10_000_000:07d}")
                except (aiohttp.ClientError, RuntimeError, TimeoutError) as exc:
                    return exc

        results = await asyncio.gather(*(one(n) for n in range(count)))
    reasons: list[str] = []
    for result in results:
        reason = failure(result)
        if reason is not None:
            reasons.append(reason)
            sid = result.call_sid if isinstance(result, LightCallResult) else "-"
            print(f"call {sid} failed: {reason} ({time.strftime('%H:%M:%S')})", flush=True)
            if isinstance(result, LightCallResult) and result.story:
                t0 = result.story[0][0]  # the stream's start
                print("  " + "; ".join(f"{t - t0:.3f} {what}" for t, what in result.story), flush=True)
    return reasons


@dataclass(frozen=True)
class Plan:
    """How many calls, how many at a time, and the warm-up before them."""

    calls: int
    concurrency: int
    sample_every: int
    warmup: int
    warmup_concurrency: int
    log_level: str = "warning"
    """The server's LOG_LEVEL."""


async def soak(plan: Plan, workdir: Path, progress: bool = True) -> tuple[list[Sample], list[str]]:
    """Warm a fresh server up, then run the calls; return the samples (the baseline first) and why calls failed."""
    dsn = start_embedded(workdir / "pg")
    fakes = Fakes()
    proc: subprocess.Popen[bytes] | None = None
    try:
        await migrate(dsn)
        await seed(dsn)
        await fakes.start()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "DATABASE_URL": dsn, "PUBLIC_URL": url, "LOG_LEVEL": plan.log_level,
               "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "DEEPGRAM_API_KEY": API_KEY, "DEEPGRAM_BASE_URL": fakes.url,
               "OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": fakes.url + "/v1", "SUPABASE_JWT_SECRET": "x" * 64}
        for var in ("TWILIO_ACCOUNT_SID", "STRIPE_SECRET_KEY", "PORT", "AGENT_SERVER_CONFIG"):
            env.pop(var, None)
        with (workdir / "server.log").open("wb") as log:
            proc = subprocess.Popen([str(ROOT / ".venv/bin/agent-server"), "serve", "--port", str(port)],
                                    env=env, stdout=log, stderr=subprocess.STDOUT)
        await wait_for(url, proc)
        line = Line.of(tone_mulaw(0.3, freq=220.0) + silence_mulaw(0.02))
        samples: list[Sample] = []
        failures: list[str] = []
        done, started = 0, time.monotonic()
        ports = {port: "callers", int(fakes.url.rsplit(":", 1)[1]): "providers"}
        failures += await run_calls(url, plan.warmup, plan.warmup_concurrency, line)
        while True:
            await wait_for(url, proc, live=0)
            await wait_for_jobs_done(dsn)
            fakes.rest()
            await wait_for_connections_closed(proc.pid, ports)
            await asyncio.sleep(0.5)
            tasks = int((await read_metrics(url))["agent_asyncio_tasks"])
            await asyncio.sleep(0.2)  # the server closes the metrics connection
            fds, kinds, rss, threads = read_process(proc.pid, ports)
            samples.append(Sample(done, tasks, fds, sum(kinds.values()), rss, round(time.monotonic() - started, 1),
                                  kinds, threads))
            if progress:
                print(format_sample(samples[-1], len(failures)), flush=True)
            if done == plan.calls:
                return samples, failures
            batch = min(plan.sample_every, plan.calls - done)
            failures += await run_calls(url, batch, plan.concurrency, line)
            done += batch
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
        if fakes.runner is not None:
            await fakes.runner.cleanup()
        stop_embedded(workdir / "pg")


def format_sample(s: Sample, failures: int) -> str:
    kinds = " ".join(f"{kind} {n}" for kind, n in sorted(s.socket_kinds.items()))
    return (f"calls {s.calls:6d}  tasks {s.tasks:4d}  fds {s.fds:4d}  sockets {s.sockets:4d} ({kinds})  "
            f"threads {s.threads:2d}  rss {s.rss_kib / 1024:7.1f} MiB  failed {failures}  t {s.seconds:7.1f} s")


def report(verdict: Verdict, samples: Sequence[Sample]) -> str:
    base, last = verdict.baseline, samples[-1]
    return (f"after warm-up (baseline: tasks {base.tasks}, fds {base.fds}, sockets "
            f"{base.sockets}, rss {base.rss_kib / 1024:.1f} MiB) to {last.calls} calls: most above baseline: "
            + ", ".join(f"{kind} {value:+d}" for kind, value in verdict.growth.items())
            + f"; rss {verdict.rss_mib_per_10k:+.2f} MiB per 10,000 calls (least squares, budget "
              f"{RSS_BUDGET_MIB_PER_10K:.0f}); failed calls {sum(verdict.failures.values())} {verdict.failures or ''}: "
            + ("PASS" if verdict.passed else "FAIL"))


def main(argv: Sequence[str] | None = None) -> tuple[int, Verdict]:
    """Run the soak; returns the exit code (0: pass) and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10, help="calls at a time")
    parser.add_argument("--sample-every", type=int, default=100, help="calls between samples")
    parser.add_argument("--warmup", type=int, default=500, help="calls before the baseline sample, not counted")
    parser.add_argument("--warmup-concurrency", type=int, default=20, help="warm-up calls at a time")
    parser.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"),
                        help="the server's LOG_LEVEL (its log is kept when a call fails)")
    args = parser.parse_args(argv)
    plan = Plan(args.calls, args.concurrency, args.sample_every, args.warmup, args.warmup_concurrency,
                args.log_level)
    workdir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    os.chmod(workdir, 0o755)
    samples_done: tuple[list[Sample], list[str]] | None = None
    try:
        samples_done = asyncio.run(soak(plan, workdir))
    finally:
        # A failed call's story is in the server's log (warnings and errors): keep it.
        log = workdir / "server.log"
        if log.exists() and (not samples_done or samples_done[1]):
            kept = Path(tempfile.gettempdir()) / f"{workdir.name}-server.log"
            shutil.move(log, kept)
            print(f"server log kept: {kept}", flush=True)
        shutil.rmtree(workdir, ignore_errors=True)
    assert samples_done is not None
    samples, failures = samples_done
    verdict = judge(samples, failures)
    print(report(verdict, samples), flush=True)
    return (0 if verdict.passed else 1), verdict


if __name__ == "__main__":
    raise SystemExit(main()[0])
