"""Simultaneous simulated phone calls against the server, with the providers faked at known delays.

Three processes, so none measures another's CPU: the fakes (Deepgram STT and Aura, an
OpenAI-compatible LLM), the server (``agent-server serve``, optionally pinned to a core),
and this load generator (the caller simulator, real-time pace). Each call hears the
greeting, asks a question, interrupts the answer half a second in, waits for the second
answer, asks a third question, waits for its answer and hangs up (about 10 s). Reported, per turn and per call:

- server-added latency: the caller's response latency (last speech frame sent → first agent
  frame received) minus the fakes' configured delays (endpointing, final transcript, first
  LLM token, first TTS byte); also the server's own figure (turn end → first frame sent)
  minus the LLM and TTS delays;
- barge-in latency: first frame of the interruption sent → ``clear`` received (the fake's
  SpeechStarted is immediate, so this bounds "speech start event → clear sent" from above);
- outbound audio gaps: playback running dry inside a reply;
- CPU of the server and of this generator, so a saturated generator is visible.

Usage::

    .venv/bin/python bench/calls.py --calls 100 [--pin-core 0]
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
from typing import Any

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
from phone_numbers import registry  # noqa: E402
from storage.pool import init_connection  # noqa: E402
from tests.fake_deepgram import FakeDeepgram, tone_mulaw  # noqa: E402
from tests.fake_openai import FakeOpenAi  # noqa: E402

AUTH_TOKEN = "bench-auth-token"
NUMBER = "+14155550100"
ENDPOINTING = 0.300
"""The fake Deepgram ends an utterance after this much silence (the listen URL's endpointing)."""
REPLY = ("Our opening hours are nine to five on weekdays. On Saturdays we open from ten to two, "
         "and on Sundays we are closed.")


@dataclass(frozen=True)
class Delays:
    """What the fakes are told to wait, in seconds."""

    final: float
    first_token: float
    tts_first_byte: float

    @property
    def response(self) -> float:
        return ENDPOINTING + self.final + self.first_token + self.tts_first_byte


def _run_fakes(delays: Delays, conn: Any) -> None:
    async def main() -> None:
        deepgram = FakeDeepgram(final_delay=delays.final, speak_first_byte_delay=delays.tts_first_byte,
                                speak_bytes_per_char=160)
        deepgram.state.default_transcript = "What are your opening hours on Saturday?"
        openai = FakeOpenAi(first_token_delay=delays.first_token)
        openai.state.default_reply = openai.state.default_reply.__class__(text=REPLY)
        conn.send((await deepgram.start(), await openai.start()))
        # A bench run is minutes long and the fakes keep little: without the cyclic GC their
        # pauses (50-80 ms were seen) cannot show up as the server's latency.
        gc.disable()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()

    # uvloop, as the server runs on: the default loop's selector and transport writes were a
    # third of the fakes' CPU, which shares a core with the load generator in bench/scale.py.
    uvloop.run(main())


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


async def _calls(url: str, number: str, n: int, stagger: float,
                 answers: int = TURNS) -> list[CallResult | BaseException]:
    """``n`` calls started over ``stagger`` seconds, with the load generator's cyclic GC off meanwhile.

    Every call object lives to the end of the step, so a collection here has nothing to free
    and would only pause the generator (a 200 ms full collection was seen), which the caller
    side would report as server latency. Collected once the calls are over.
    """
    line = tone_mulaw(0.8, freq=220.0)
    steps: list[Step] = [Say(line), Say(line, barge_in_after=0.5)] + [Say(line)] * (answers - 2)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        simulator = CallerSimulator(url, AUTH_TOKEN, http, quiet_timeout=30.0, reply_timeout=5.0)

        async def one(i: int) -> CallResult:
            await asyncio.sleep(random.uniform(0, stagger))
            return await simulator.call(number, steps, from_number=f"+1555{i:07d}")

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


@contextlib.contextmanager
def stage(prefix: str, delays: Delays, public_url: str) -> Iterator[Stage]:
    """Start the fakes and an embedded PostgreSQL (migrated, the calling business seeded); tear both down."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(workdir, 0o755)
    parent, child = multiprocessing.Pipe()
    fakes = multiprocessing.get_context("spawn").Process(target=_run_fakes, args=(delays, child), daemon=True)
    fakes.start()
    deepgram_url, openai_url = parent.recv()
    dsn = start_embedded(workdir / "pg")
    try:
        asyncio.run(migrate(dsn))
        asyncio.run(_seed(dsn, NUMBER))
        env = {**os.environ, "DATABASE_URL": dsn, "PUBLIC_URL": public_url, "LOG_LEVEL": "warning",
               "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "DEEPGRAM_API_KEY": "test-key", "DEEPGRAM_BASE_URL": deepgram_url,
               "OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": openai_url, "SUPABASE_JWT_SECRET": "x" * 64}
        for var in ("TWILIO_ACCOUNT_SID", "STRIPE_SECRET_KEY", "PORT"):
            env.pop(var, None)
        assert fakes.pid is not None
        yield Stage(workdir, dsn, fakes.pid, env)
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
    parser.add_argument("--final-delay", type=float, default=0.05)
    parser.add_argument("--first-token-delay", type=float, default=0.10)
    parser.add_argument("--tts-first-byte-delay", type=float, default=0.05)
    args = parser.parse_args()
    if args.answers < 2:
        parser.error("--answers must be at least 2")
    delays = Delays(args.final_delay, args.first_token_delay, args.tts_first_byte_delay)
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

            async def run() -> list[CallResult | BaseException]:
                nonlocal peak_rss
                task = asyncio.create_task(_calls(url, NUMBER, args.calls, args.stagger, args.answers))
                while not task.done():
                    peak_rss = max(peak_rss, _rss_mib(server.pid))
                    await asyncio.sleep(0.5)
                return await task

            results = uvloop.run(run())  # the load generator's loop: see _run_fakes
            wall = time.monotonic() - t0
            server_cpu, own_cpu = _cpu_seconds(server.pid) - cpu0, time.process_time() - own0
            fakes_cpu = _cpu_seconds(bench.fakes_pid) - fakes0
            time.sleep(1.0)  # turns and call ends are written in the background as calls end
            server_side, peak_live = asyncio.run(_server_latencies(bench.dsn))
            _report(args, delays, results, server_side, peak_live, wall, (server_cpu, own_cpu, fakes_cpu), idle_rss,
                    peak_rss)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=20)
    return 0


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not start")


def _report(args: argparse.Namespace, delays: Delays, results: list[CallResult | BaseException],
            server_side: list[int], peak_live: int, wall: float, cpu: tuple[float, float, float], idle_rss: float,
            peak_rss: float) -> None:
    server_cpu, own_cpu, fakes_cpu = cpu
    ok = [r for r in results if isinstance(r, CallResult)]
    failed = [r for r in results if not isinstance(r, CallResult)]
    response = [v for r in ok for v in r.turn_latencies_ms]
    added = [v - delays.response * 1000 for v in response]
    server_added = [v - (delays.first_token + delays.tts_first_byte) * 1000 for v in server_side]
    barge = [v for r in ok for v in r.barge_in_latencies_ms]
    gaps = [v for r in ok for v in r.gaps_ms]
    missed = sum(1 for r in ok if len(r.turn_latencies_ms) < args.answers)
    print(f"calls: {args.calls} (started over {args.stagger:.1f} s, at most {peak_live} live at once), "
          f"completed {len(ok)}, "
          f"failed {len(failed)}, with a missed turn {missed}")
    for error in failed[:3]:
        print(f"  failure: {error!r}")
    print(f"fake delays: endpointing {ENDPOINTING * 1000:.0f} ms + final {delays.final * 1000:.0f} ms + "
          f"first token {delays.first_token * 1000:.0f} ms + TTS first byte {delays.tts_first_byte * 1000:.0f} ms")
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
