"""Calls whose answer needs a tool: what the server adds beyond the tool and the two LLM requests (issue 23).

`agent-server serve` runs as its own process on a scratch embedded PostgreSQL; this process runs
the fakes (Deepgram STT and Aura, an OpenAI-compatible LLM, the business's webhook receiver, on one
port) and the callers (`media.caller_simulator`). Each call's caller asks one question; the
model's first request calls the agent's `webhook_call` action (the receiver answers after
`--tool-ms`), its second writes the answer. Reported from the server's own figures
(`call_turns.server_latency_ms`: turn end → the answer's first frame sent), minus what the fakes
make it wait: two first tokens, the tool and the TTS first byte. The filler is not said when the
tool answers within `[actions] voice_filler_after_ms`.

Usage::

    .venv/bin/python bench/call_tools.py --calls 50 --stagger 10 --tool-ms 300
    .venv/bin/python bench/call_tools.py --calls 50 --stagger 10 --tool-ms 2000   # the filler's timing
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import msgspec
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_server.embedded_db import start_embedded, stop_embedded  # noqa: E402
from automations import action_store  # noqa: E402
from automations.action_checks import checked_spec  # noqa: E402
from automations.action_model import ActionSpec  # noqa: E402
from bench.served import load_average, percentile, seed, serving  # noqa: E402
from media.caller_simulator import CallerSimulator, Say  # noqa: E402
from phone_numbers import registry  # noqa: E402
from storage.pool import init_connection  # noqa: E402
from tests.audio_samples import tone_mulaw  # noqa: E402
from tests.fake_deepgram import FakeDeepgram  # noqa: E402
from tests.fake_http import serve_locally  # noqa: E402
from tests.fake_openai import FakeOpenAi, ScriptedReply, ScriptedToolCall  # noqa: E402

AUTH_TOKEN = "bench-auth-token"
API_KEY = "fake"
NUMBER = "+14155550100"
FIRST_TOKEN = 0.1
TTS_FIRST_BYTE = 0.05
ANSWER = "Done, your details are with the team."
FILLER_AFTER_MS = 500
"""config.toml's [actions] voice_filler_after_ms."""


def _responder(body: dict[str, Any]) -> ScriptedReply:
    """A turn's first request calls the tool; the request that carries its result answers in words."""
    if body.get("response_format"):  # the post-call analysis
        return ScriptedReply()
    last = body["messages"][-1]
    if last["role"] == "tool":
        return ScriptedReply(text=ANSWER)
    return ScriptedReply(tool_calls=[ScriptedToolCall("push_lead", {"name": "Ann"})])


async def _fakes(tool_seconds: float) -> tuple[web.AppRunner, str]:
    deepgram = FakeDeepgram(api_key=API_KEY, speak_first_byte_delay=TTS_FIRST_BYTE, speak_bytes_per_char=160)
    deepgram.state.default_transcript = "Please send my details, I'm Ann."
    openai = FakeOpenAi(api_key=API_KEY, first_token_delay=FIRST_TOKEN)
    openai.state.responder = _responder

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(tool_seconds)
        return web.Response(status=204)

    app = web.Application()
    deepgram.add_routes(app)
    openai.add_routes(app)
    app.router.add_post("/hook", hook)
    runner, port = await serve_locally(app)
    return runner, f"http://127.0.0.1:{port}"


async def _seed_line(dsn: str, providers: str) -> None:
    tenant = await seed(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, init=init_connection)
    assert pool is not None
    try:
        await registry.add_number(pool, tenant.business_id, NUMBER, agent_id=tenant.agent_id)
        spec = msgspec.convert({"type": "webhook_call", "name": "push_lead", "description": "Send the lead",
                                "parameters": {"type": "object", "properties": {"name": {"type": "string"}},
                                               "required": ["name"]},
                                "configuration": {"url": f"{providers}/hook"}}, ActionSpec)
        resolver = aiohttp.ThreadedResolver()
        checked = await checked_spec(pool, tenant.business_id, spec, saved=None,
                                     allowed_private_hosts=("127.0.0.1",), resolver=resolver)
        await resolver.close()
        await action_store.create(pool, tenant.business_id, tenant.agent_id, checked,
                                  now=datetime.datetime.now(datetime.UTC))
    finally:
        await pool.close()


async def _calls(base: str, n: int, stagger: float) -> int:
    """`n` calls started over `stagger` seconds; how many heard an answer."""
    audio = tone_mulaw(0.8, freq=220.0)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        simulator = CallerSimulator(base, AUTH_TOKEN, http, quiet_timeout=30.0, reply_timeout=10.0)

        async def one(i: int) -> bool:
            await asyncio.sleep(stagger * i / max(1, n))
            result = await simulator.call(NUMBER, [Say(audio)], from_number=f"+1555{i:07d}")
            return result.replies >= 1

        return sum(await asyncio.gather(*(one(i) for i in range(n))))


async def run(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-call-tools-"))
    runner, providers = await _fakes(args.tool_ms / 1000)
    dsn = start_embedded(scratch / "pg")
    try:
        await _seed_line(dsn, providers)
        env = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "DEEPGRAM_API_KEY": API_KEY, "DEEPGRAM_BASE_URL": providers,
               "OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": providers + "/v1"}
        async with serving(dsn, scratch, {"allowed_private_hosts": '["127.0.0.1"]'}, env) as (base, _):
            answered = await _calls(base, args.calls, args.stagger)
        conn = await asyncpg.connect(dsn)
        try:
            latencies = sorted(r[0] for r in await conn.fetch(
                "SELECT server_latency_ms FROM call_turns WHERE role = 'assistant' AND server_latency_ms IS NOT NULL"))
            runs = await conn.fetch("SELECT status, count(*) FROM action_executions GROUP BY status")
        finally:
            await conn.close()
        ideal = 2 * FIRST_TOKEN * 1000 + args.tool_ms + TTS_FIRST_BYTE * 1000
        added = [lat - ideal for lat in latencies]
        print(f"{args.calls} calls ({answered} answered), one {args.tool_ms} ms tool call each; "
              f"actions: {dict((r[0], r[1]) for r in runs)}; load average {load_average()}")
        if added and args.tool_ms >= FILLER_AFTER_MS:  # the first frame is the filler's, due at 500 ms
            print(f"filler's first frame after the turn: p50 {percentile(latencies, 0.5)} ms, "
                  f"p99 {percentile(latencies, 0.99)} ms, max {latencies[-1]} ms (due at {FILLER_AFTER_MS} ms)")
        elif added:
            print(f"server latency (turn end -> answer's first frame): p50 {percentile(latencies, 0.5)} ms, "
                  f"p99 {percentile(latencies, 0.99)} ms; ideal {ideal:.0f} ms (2 x {FIRST_TOKEN * 1000:.0f} ms "
                  f"first token + tool + {TTS_FIRST_BYTE * 1000:.0f} ms TTS first byte)")
            print(f"server-added: p50 {percentile(added, 0.5):.0f} ms, p99 {percentile(added, 0.99):.0f} ms, "
                  f"max {max(added):.0f} ms")
    finally:
        await runner.cleanup()
        stop_embedded(scratch / "pg")
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--stagger", type=float, default=10.0, help="seconds over which the calls start")
    parser.add_argument("--tool-ms", type=int, default=300, help="how long the webhook takes to answer")
    asyncio.run(run(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
