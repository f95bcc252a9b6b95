"""Simultaneous simulated phone calls against the server, with the providers faked at known delays.

Three processes, so none measures another's CPU: the fakes (Deepgram STT and Aura, an
OpenAI-compatible LLM, on one port: ``bench/fakes.py``), the server (``agent-server serve``,
optionally pinned to a core), and this load generator (``bench/light_caller.py`` by default,
``--caller simulator`` for ``media.caller_simulator``; real-time pace). Each call hears the
greeting, asks a question, interrupts the answer half a second in, waits for the second
answer, asks a third question, waits for its answer and hangs up (about 10 s). Reported, per turn and per call:

- server-added latency: the caller's response latency (last speech frame sent → first agent
  frame received) minus the ideal the fakes allow (endpointing, final transcript, the first
  sentence's last token, first TTS byte; ``--fakes`` picks the delays); also the server's
  own figure (turn end → first frame sent) minus the LLM and TTS part of that ideal;
- barge-in latency: first frame of the interruption sent → ``clear`` received (the fake's
  SpeechStarted is immediate, so this bounds "speech start event → clear sent" from above);
- outbound audio gaps: playback running dry inside a reply;
- CPU of the server and of this generator, so a saturated generator is visible.

Usage::

    .venv/bin/python bench/calls.py --calls 100 [--pin-core 0] [--fakes provider] [--caller simulator]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import uvloop  # noqa: E402

from agent_server import agents, tenants  # noqa: E402
from agent_server.embedded_db import start_embedded, stop_embedded  # noqa: E402
from agent_server.migrations import migrate  # noqa: E402
from billing import ledger  # noqa: E402
from billing.ledger import EntryKind  # noqa: E402
from billing.money import Currency, Money  # noqa: E402
from media.caller_simulator import CallerSimulator, CallResult, Say, Step  # noqa: E402
from llm_usage import token_settings  # noqa: E402
from phone_numbers import registry  # noqa: E402
from storage.pool import init_connection  # noqa: E402
from tests.audio_samples import tone_mulaw  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from fakes import API_KEY, run_fakes  # noqa: E402
from fakes import PROFILES as PROFILES, Delays as Delays  # noqa: E402  (scale.py and nginx_calls.py take them from here)
from light_caller import LightCaller, LightCallResult, Line  # noqa: E402

AUTH_TOKEN = "bench-auth-token"
NUMBER = "+14155550100"
VOICE_PATH = "/api/voice-agent/handle-call"
Outcome: TypeAlias = CallResult | LightCallResult
"""One call as the bench sees it, from either caller."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(dsn: str, number: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        business = await tenants.create_business(conn, "Bench")
        agent = await agents.create_agent(conn, business, "Bench", greeting="Hello, thanks for calling.",
                                          system_prompt="You answer the phone.")
        await registry.add_number(conn, business, number, agent_id=agent)
        # The bench measures calls, not the token caps: this agent's daily and monthly caps are lifted.
        await token_settings.update(conn, agent, {"daily_limit": None, "monthly_limit": None})
        # Calls are paid by the second: fund the wallet far beyond what any run uses.
        await ledger.credit(conn, business_id=business, amount=Money(100_000_000, Currency.USD),
                            kind=EntryKind.TOPUP, idempotency_key="bench-funds", reference="bench", actor="bench")
    finally:
        await conn.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


TURNS = 3
"""Answers each call waits for by default: the first is interrupted, so a call hears the
greeting, a cut answer and two whole ones (``--answers`` makes calls longer, one more whole
answer each, about 2.5 s)."""


async def _calls(url: str, number: str, n: int, stagger: float, answers: int = TURNS, caller: str = "light",
                 voice_path: str = VOICE_PATH) -> list[Outcome | BaseException]:
    """``n`` calls started over ``stagger`` seconds, with the load generator's cyclic GC off meanwhile.

    ``caller`` is ``light`` (``bench/light_caller.py``: one ticker for every call, cheap per
    frame, so the load side is not the limit) or ``simulator`` (``media.caller_simulator``,
    the same Twilio behaviour at several times the CPU per call; it knows only the agent
    server's webhook path).

    Every call object lives to the end of the step, so a collection here has nothing to free
    and would only pause the generator (a 200 ms full collection was seen), which the caller
    side would report as server latency. Collected once the calls are over.
    """
    audio = tone_mulaw(0.8, freq=220.0)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        if caller == "light":
            lines = [Line.of(audio), Line.of(audio, barge_in_after=0.5)] + [Line.of(audio)] * (answers - 2)
            light = LightCaller(url, AUTH_TOKEN, http, voice_path=voice_path, quiet_timeout=30.0, reply_timeout=5.0)

            async def place(i: int) -> Outcome:
                return await light.call(number, lines, from_number=f"+1555{i:07d}")
        else:
            steps: list[Step] = [Say(audio), Say(audio, barge_in_after=0.5)]
            steps += [Say(audio)] * (answers - 2)
            simulator = CallerSimulator(url, AUTH_TOKEN, http, quiet_timeout=30.0, reply_timeout=5.0)

            async def place(i: int) -> Outcome:
                return await simulator.call(number, steps, from_number=f"+1555{i:07d}")

        async def one(i: int) -> Outcome:
            await asyncio.sleep(random.uniform(0, stagger))
            return await place(i)

        gc.disable()
        try:
            return await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
        finally:
            gc.enable()
            gc.collect()


async def _server_latencies(dsn: str) -> tuple[list[int], int]:
    """Every answer's server latency (turn end → first frame sent), and the peak of live calls."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT server_latency_ms FROM call_turns WHERE server_latency_ms IS NOT NULL")
        spans = await conn.fetch("SELECT stream_started_at, ended_at FROM calls"
                                 " WHERE stream_started_at IS NOT NULL AND ended_at IS NOT NULL")
        return [r[0] for r in rows], peak_overlap([(r[0].timestamp(), r[1].timestamp()) for r in spans])
    finally:
        await conn.close()


def peak_overlap(spans: Sequence[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an end at the same instant as a start counts first)."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    live = peak = 0
    for _, step in edges:
        live += step
        peak = max(peak, live)
    return peak


@dataclass(frozen=True)
class Stage:
    """What every bench run stands on: fakes in their own process, a seeded database, a server env."""

    workdir: Path
    dsn: str
    fakes_pid: int
    env: dict[str, str]
    """Environment for `agent-server serve` (no PORT: each script chooses its ports)."""
    providers_url: str
    """The fakes' base URL (Deepgram at it, OpenAI at it + ``/v1``), for a relay run beside the server."""


def _pin_tree(pid: int, cpus: set[int]) -> None:
    """Pin a process and its children (their threads too) to ``cpus``."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)
        for child in (task / "children").read_text().split():
            _pin_tree(int(child), cpus)


@contextlib.contextmanager
def stage(prefix: str, delays: Delays, public_url: str, db_cpus: set[int] | None = None) -> Iterator[Stage]:
    """Start the fakes and an embedded PostgreSQL (migrated, the calling business seeded); tear both down.

    ``db_cpus`` pins PostgreSQL (the postmaster, so every backend it forks) to those CPUs: in
    ``bench/scale.py --mode core`` it shares the server's core, as in production.
    """
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(workdir, 0o755)
    parent, child = multiprocessing.Pipe()
    fakes = multiprocessing.get_context("spawn").Process(target=run_fakes, args=(delays, child), daemon=True)
    fakes.start()
    providers_url = parent.recv()
    dsn = start_embedded(workdir / "pg")
    if db_cpus:
        _pin_tree(int((workdir / "pg" / "postmaster.pid").read_text().split()[0]), db_cpus)
    try:
        asyncio.run(migrate(dsn))
        asyncio.run(_seed(dsn, NUMBER))
        env = {**os.environ, "DATABASE_URL": dsn, "PUBLIC_URL": public_url, "LOG_LEVEL": "warning",
               "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "DEEPGRAM_API_KEY": API_KEY, "DEEPGRAM_BASE_URL": providers_url,
               "OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": providers_url + "/v1", "SUPABASE_JWT_SECRET": "x" * 64}
        for var in ("TWILIO_ACCOUNT_SID", "STRIPE_SECRET_KEY", "PORT"):
            env.pop(var, None)
        assert fakes.pid is not None
        yield Stage(workdir, dsn, fakes.pid, env, providers_url)
    finally:
        fakes.terminate()
        stop_embedded(workdir / "pg")
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="simultaneous calls")
    parser.add_argument("--stagger", type=float, default=10.0, help="seconds over which calls start")
    parser.add_argument("--answers", type=int, default=TURNS,
                        help="answers each call waits for (at least 2: the first is interrupted)")
    parser.add_argument("--pin-core", type=int, help="pin the server to this CPU core (taskset)")
    add_load_options(parser)
    args = parser.parse_args()
    if args.answers < 2:
        parser.error("--answers must be at least 2")
    delays = PROFILES[args.fakes]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server: subprocess.Popen[bytes] | None = None
    with stage("bench-calls-", delays, url) as bench:
        try:
            command = [str(ROOT / ".venv/bin/agent-server"), "serve", "--port", str(port)]
            if args.pin_core is not None:
                command = ["taskset", "-c", str(args.pin_core), *command]
            server = subprocess.Popen(command, env=bench.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _wait_ready(port)
            idle_rss = _rss_mib(server.pid)
            cpu0, own0, t0 = _cpu_seconds(server.pid), time.process_time(), time.monotonic()
            fakes0 = _cpu_seconds(bench.fakes_pid)
            peak_rss = idle_rss

            async def run() -> list[Outcome | BaseException]:
                nonlocal peak_rss
                task = asyncio.create_task(_calls(url, NUMBER, args.calls, args.stagger, args.answers, args.caller))
                while not task.done():
                    peak_rss = max(peak_rss, _rss_mib(server.pid))
                    await asyncio.sleep(0.5)
                return await task

            results = uvloop.run(run())  # the load generator's loop: see fakes.run_fakes
            wall = time.monotonic() - t0
            server_cpu, own_cpu = _cpu_seconds(server.pid) - cpu0, time.process_time() - own0
            fakes_cpu = _cpu_seconds(bench.fakes_pid) - fakes0
            time.sleep(1.0)  # turns and call ends are written in the background as calls end
            server_side, peak_live = asyncio.run(_server_latencies(bench.dsn))
            print(asyncio.run(stage_excess(url, delays)))
            _report(args, delays, results, server_side, peak_live, wall, (server_cpu, own_cpu, fakes_cpu), idle_rss,
                    peak_rss)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=20)
    return 0


async def stage_excess(url: str, delays: Delays) -> str:
    """The server's per-stage means (its ``/metrics`` histograms), each minus what the fakes account for.

    Where the server's added latency goes: STT final → first LLM token (the fake's first-token
    delay), first token → first TTS byte (the first sentence's remaining tokens, then the TTS
    first byte), first TTS byte → first frame sent (nothing). Means over every turn of the run,
    including greetings for the last stage.
    """
    ideal = {"stt_final_to_llm_first_token": delays.first_token,
             "llm_first_token_to_tts_first_byte": delays.first_sentence - delays.first_token + delays.tts_first_byte,
             "tts_first_byte_to_first_frame": 0.0}
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as resp:
        text = await resp.text()
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        for stage in ideal:
            label = f'stage="{stage}"'
            if line.startswith("agent_call_stage_latency_seconds_sum{") and label in line:
                sums[stage] = float(line.rsplit(" ", 1)[1])
            elif line.startswith("agent_call_stage_latency_seconds_count{") and label in line:
                counts[stage] = float(line.rsplit(" ", 1)[1])
    parts = [f"{stage} {(sums[stage] / counts[stage] - wanted) * 1000:+.1f} ms (n={counts[stage]:.0f})"
             for stage, wanted in ideal.items() if counts.get(stage)]
    return "server stages beyond the fakes' delays, means: " + ("; ".join(parts) or "none recorded")


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not start")


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """The fakes' profile and the caller: options every bench script that places calls shares."""
    parser.add_argument("--fakes", choices=sorted(PROFILES), default="quick",
                        help="the fakes' delays: quick (the older rows' figures) or provider (tokens 20 ms apart, "
                             "TTS in 100 ms chunks, as hosted providers stream); see bench/fakes.py")
    parser.add_argument("--caller", choices=("light", "simulator"), default="light",
                        help="the load generator: bench/light_caller.py, or media.caller_simulator")


def _report(args: argparse.Namespace, delays: Delays, results: list[Outcome | BaseException],
            server_side: list[int], peak_live: int, wall: float, cpu: tuple[float, float, float], idle_rss: float,
            peak_rss: float) -> None:
    server_cpu, own_cpu, fakes_cpu = cpu
    ok = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    response = [v for r in ok for v in r.turn_latencies_ms]
    added = [v - delays.response * 1000 for v in response]
    server_added = [v - delays.inside * 1000 for v in server_side]
    barge = [v for r in ok for v in r.barge_in_latencies_ms]
    gaps = [v for r in ok for v in r.gaps_ms]
    missed = sum(1 for r in ok if len(r.turn_latencies_ms) < args.answers)
    print(f"calls: {args.calls} (started over {args.stagger:.1f} s, at most {peak_live} live at once), "
          f"completed {len(ok)}, "
          f"failed {len(failed)}, with a missed turn {missed}")
    for error in failed[:3]:
        print(f"  failure: {error!r}")
    print(f"fake delays ({args.fakes}): {delays.describe()}")
    print(f"server-added latency at the caller (n={len(added)}): p50 {_pct(added, 0.5):.1f} ms, "
          f"p99 {_pct(added, 0.99):.1f} ms, max {max(added, default=math.nan):.1f} ms")
    print(f"server-added latency inside the server (n={len(server_added)}): p50 {_pct(server_added, 0.5):.1f} ms, "
          f"p99 {_pct(server_added, 0.99):.1f} ms")
    print(f"barge-in latency, speech start → clear (n={len(barge)}): p50 {_pct(barge, 0.5):.1f} ms, "
          f"p99 {_pct(barge, 0.99):.1f} ms")
    print(f"outbound audio gaps: {len(gaps)}" + (f" (max {max(gaps):.0f} ms)" if gaps else ""))
    print(f"CPU over {wall:.1f} s, in % of one core: server {server_cpu / wall * 100:.0f}, load generator "
          f"{own_cpu / wall * 100:.0f}, fakes {fakes_cpu / wall * 100:.0f}; machine load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; server RSS idle {idle_rss:.0f} MiB, peak {peak_rss:.0f} MiB "
          f"({(peak_rss - idle_rss) / max(args.calls, 1):.2f} MiB per call)")
    if response:
        print(f"caller response latency p50 {statistics.median(response):.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
