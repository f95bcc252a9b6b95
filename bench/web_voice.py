"""Calls from a browser beside phone calls, on `bench/calls.py`'s fakes and server; recording's cost; the edge's conversion.

One server (``agent-server serve``), one run of the fakes (``bench/fakes.py``) and one seeded
database (``calls.stage``), then:

1. ``--calls`` browser calls (``CallerSimulator.web_call``: a token from ``GET /api/voice/token``,
   then Twilio Media Streams on ``/api/voice/web/stream``, speaking 16 kHz L16 in binary frames
   as the widget's client does, so converted at the server's edge both ways) and as many phone
   calls (the same simulator, ``calls._calls``), started together over ``--stagger`` seconds. Each call hears
   the greeting, asks, interrupts the answer half a second in, and waits for two more answers.
   Reported per kind: server-added latency at the caller (response latency minus the fakes'
   ideal) and inside the server (``call_turns.server_latency_ms`` minus the LLM and TTS part),
   and the barge-in latency (first frame of the interruption sent → ``clear`` received).
2. ``--recorded`` phone calls (``bench/light_caller.py``) with recording off, then as many with
   the agent's recording on (both sides written to a WAV per call, off the loop): the server-
   added p99 of each, and the longest the server took to answer ``/healthz`` meanwhile, polled
   every 10 ms (an upper bound on its event loop's longest stall: a probe waits out a stall).
3. The edge's conversion (``media.audio.web_l16``), timed in this process: µs per 20 ms frame
   of 16 kHz L16 → 8 kHz μ-law and back.

Usage::

    .venv/bin/python bench/web_voice.py [--calls 50] [--recorded 100] [--stagger 10] [--fakes quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import numpy as np  # noqa: E402
import uvloop  # noqa: E402

from agent_server import auth, tenants  # noqa: E402
from agent_server.config import load_settings  # noqa: E402
from media.audio.web_l16 import l16_to_mulaw, mulaw_to_l16  # noqa: E402
from media.caller_simulator import CallerSimulator, CallResult, Say, Step, WebWire  # noqa: E402
from storage.pool import init_connection  # noqa: E402
from tests.audio_samples import tone_mulaw  # noqa: E402

sys.path.append(str(ROOT / "bench"))  # after the packages: bench/customers.py must not hide the customers package
import calls  # noqa: E402  (bench/calls.py: the stage, the phone calls, percentiles)
from served import load_average, probe_lines  # noqa: E402  (bench/served.py)

JWT_SECRET = "x" * 64
"""The secret ``calls.stage`` gives the server."""


def edge_microseconds(frames: int = 20_000) -> tuple[float, float]:
    """µs per 20 ms frame: 16 kHz L16 → 8 kHz μ-law, and back (speech-like noise, not silence)."""
    rng = np.random.default_rng(7)
    l16 = [rng.integers(-8000, 8000, 320, dtype=np.int16).astype("<i2").tobytes() for _ in range(64)]
    mulaw = [l16_to_mulaw(f) for f in l16]
    timings = []
    for convert, inputs in ((l16_to_mulaw, l16), (mulaw_to_l16, mulaw)):
        start = time.perf_counter_ns()
        for i in range(frames):
            convert(inputs[i & 63])
        timings.append((time.perf_counter_ns() - start) / frames / 1000)
    return timings[0], timings[1]


async def _owner_token(dsn: str) -> tuple[str, uuid.UUID]:
    """A dashboard token for the seeded business's owner (``calls.stage`` seeds no user), and its agent's id."""
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        business, agent = await conn.fetchrow("SELECT business_id, id FROM agents LIMIT 1")
        user = await tenants.create_user(conn, f"bench-{uuid.uuid4().hex[:8]}@example.com")
        await tenants.add_member(conn, business, user, "owner")
    finally:
        await conn.close()
    return auth.mint_token(load_settings(env={"SUPABASE_JWT_SECRET": JWT_SECRET}).auth, user, 86_400), agent


def _steps() -> list[Step]:
    audio = tone_mulaw(0.8, freq=220.0)
    return [Say(audio), Say(audio, barge_in_after=0.5), Say(audio)]


async def _web_calls(url: str, token: str, agent_id: uuid.UUID, n: int, stagger: float) -> list[Any]:
    """``n`` browser calls started over ``stagger`` seconds, each admitted by its own token."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        simulator = CallerSimulator(url, calls.AUTH_TOKEN, http, quiet_timeout=30.0, reply_timeout=5.0)

        async def one() -> CallResult:
            await asyncio.sleep(random.uniform(0, stagger))
            async with http.get(url + "/api/voice/token", params={"agentId": str(agent_id)},
                                headers={"Authorization": f"Bearer {token}"}) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"token refused: {resp.status} {await resp.text()}")
                grant = await resp.json()
            return await simulator.web_call(grant["url"], grant["token"], _steps(),
                                            wire=WebWire(l16=True, binary=True))

        return await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)


async def _server_added(dsn: str, since: float, inside: float) -> dict[str, list[float]]:
    """Server-added latency inside the server (ms) of the answers of calls started after ``since``, by channel."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT c.channel, t.server_latency_ms FROM call_turns t JOIN calls c ON c.id = t.call_id"
            " WHERE t.server_latency_ms IS NOT NULL AND c.stream_started_at >= to_timestamp($1)", since)
    finally:
        await conn.close()
    added: dict[str, list[float]] = {}
    for row in rows:
        added.setdefault("web" if row["channel"] == "web" else "phone", []).append(row[1] - inside * 1000)
    return added


def _line(label: str, values: list[float]) -> str:
    return (f"{label} (n={len(values)}): p50 {calls._pct(values, 0.5):.1f} ms, p99 {calls._pct(values, 0.99):.1f} ms,"
            f" max {max(values, default=float('nan')):.1f} ms")


def _caller_side(results: list[Any], response: float) -> tuple[list[float], list[float], int]:
    ok = [r for r in results if not isinstance(r, BaseException)]
    added = [v - response * 1000 for r in ok for v in r.turn_latencies_ms]
    barge = [v for r in ok for v in r.barge_in_latencies_ms]
    return added, barge, len(results) - len(ok)


async def _with_probe(url: str, work: Awaitable[Any]) -> tuple[Any, float]:
    """Run ``work`` while ``/healthz`` is asked every 10 ms; its result and the slowest answer (ms)."""
    slowest = 0.0
    done = False

    async def probe() -> None:
        nonlocal slowest
        async with aiohttp.ClientSession() as http:
            while not done:
                start = time.perf_counter()
                async with http.get(url + "/healthz") as resp:
                    await resp.read()
                slowest = max(slowest, (time.perf_counter() - start) * 1000)
                await asyncio.sleep(0.01)

    prober = asyncio.create_task(probe())
    try:
        return await work, slowest
    finally:
        done = True
        await prober


async def _mixed(args: argparse.Namespace, url: str, dsn: str, delays: calls.Delays) -> None:
    token, agent_id = await _owner_token(dsn)
    since = time.time() - 1
    web_task = _web_calls(url, token, agent_id, args.calls, args.stagger)
    phone_task = calls._calls(url, calls.NUMBER, args.calls, args.stagger, caller="simulator")
    gc.disable()
    try:
        web, phone = await asyncio.gather(web_task, phone_task)
    finally:
        gc.enable()
    await asyncio.sleep(1.0)  # turns are written in the background as calls end
    inside = await _server_added(dsn, since, delays.inside)
    for kind, results in (("web", web), ("phone", phone)):
        added, barge, failed = _caller_side(results, delays.response)
        print(f"{kind} calls: {len(results)}, failed {failed}")
        for error in [r for r in results if isinstance(r, BaseException)][:2]:
            print(f"  failure: {error!r}")
        print("  " + _line("server-added latency at the caller", added))
        print("  " + _line("server-added latency inside the server", inside.get(kind, [])))
        print("  " + _line("barge-in latency, speech start → clear", barge))


async def _recorded(args: argparse.Namespace, url: str, dsn: str, delays: calls.Delays, recordings: Path,
                    server_pid: int) -> None:
    """Both phases; run under `bench/probe` (``LATENCY_PROBE=prefix PYTHONPATH=bench/probe``) each also prints the
    server's own event-loop lag (a 5 ms timer's lateness: its max is the longest stall), not only `/healthz`'s."""
    probe = os.environ.get("LATENCY_PROBE")
    for recording in (False, True):
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("UPDATE agents SET channels = $1::jsonb",
                               json.dumps({"voice": {"recording": {"enabled": recording}}}))
        finally:
            await conn.close()
        since = time.time() - 1
        if probe:
            os.kill(server_pid, signal.SIGUSR1)  # the server's probe measures from here
        results, slowest = await _with_probe(url, calls._calls(url, calls.NUMBER, args.recorded, args.stagger))
        lag = await probe_lines(Path(probe), server_pid) if probe else []
        await asyncio.sleep(1.0)
        added, _, failed = _caller_side(results, delays.response)
        inside = await _server_added(dsn, since, delays.inside)
        label = "recorded" if recording else "not recorded"
        files = len(list(recordings.rglob("*.wav"))) if recordings.exists() else 0
        print(f"{args.recorded} phone calls, {label}: failed {failed}; slowest /healthz {slowest:.1f} ms;"
              f" WAV files so far {files}")
        print("  " + _line("server-added latency at the caller", added))
        print("  " + _line("server-added latency inside the server", inside.get("phone", [])))
        for line in lag[:1]:
            print(f"  server event loop: {line.strip()}")
        for written in Path(probe).parent.glob(f"{Path(probe).name}.*.{server_pid}") if probe else ():
            written.unlink()  # the next phase's lines are its own


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50, help="browser calls, and as many phone calls beside them")
    parser.add_argument("--recorded", type=int, default=100, help="phone calls per recording phase (0: skip)")
    parser.add_argument("--stagger", type=float, default=10.0, help="seconds over which each phase's calls start")
    parser.add_argument("--fakes", choices=sorted(calls.PROFILES), default="quick", help="the fakes' delays")
    args = parser.parse_args()
    to_l16_us, to_mulaw_us = edge_microseconds()
    print(f"edge conversion per 20 ms frame: L16 16 kHz → μ-law {to_l16_us:.1f} µs, μ-law → L16 {to_mulaw_us:.1f} µs")
    delays = calls.PROFILES[args.fakes]
    port = calls._free_port()
    url = f"http://127.0.0.1:{port}"
    print(f"load average before: {load_average()} on {os.cpu_count()} CPUs; fakes: {delays.describe()}")
    with calls.stage("bench-web-voice-", delays, url) as bench:
        config = bench.workdir / "config.toml"
        config.write_text((ROOT / "config.toml").read_text()
                          + f'\n[recordings]\ndir = "{bench.workdir / "recordings"}"\n')
        env = {**bench.env, "AGENT_SERVER_CONFIG": str(config)}
        serve = f"import sys; from agent_server.cli import main; sys.exit(main(['serve', '--port', '{port}']))"
        server = subprocess.Popen([sys.executable, "-c", serve], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            calls._wait_ready(port)
            cpu0, t0 = calls._cpu_seconds(server.pid), time.monotonic()
            uvloop.run(_mixed(args, url, bench.dsn, delays))
            if args.recorded:
                uvloop.run(_recorded(args, url, bench.dsn, delays, bench.workdir / "recordings", server.pid))
            wall = time.monotonic() - t0
            print(f"server CPU {(calls._cpu_seconds(server.pid) - cpu0) / wall * 100:.0f}% of a core over {wall:.0f} s;"
                  f" load average after: {load_average()}")
        finally:
            server.terminate()
            server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
