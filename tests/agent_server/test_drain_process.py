"""SIGTERM's drain, end to end: a real `agent-server serve` process, two live calls, the fakes on 127.0.0.1.

What a rolling deploy relies on: readiness turns 503 at once while the listener still
answers, a new stream is refused, a call that ends by itself within `call_drain_seconds`
is left alone (its caller's marks and hang-up are still read), the other hears the goodbye
and its socket closes with 1001, each call is settled exactly once, and the process exits 0
within the configured bound.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from agent_server import agents
from agent_server.app import FINAL_GOODBYE_SECONDS
from media.audio import g711
from media.text.sentences import split_sentences
from media.caller_simulator import CallerSimulator, CallResult, HangUp, Say
from phone_numbers import registry
from tests.agent_server.test_lifecycle import free_port
from tests.calls.conftest import AUTH_TOKEN, NUMBER, speech
from tests.conftest import JWT_SECRET, PUBLIC_URL, MakeBusiness, fund_wallet
from tests.fake_deepgram import FakeDeepgram
from tests.fake_openai import FakeOpenAi, ScriptedReply

ROOT = Path(__file__).resolve().parents[2]
DRAIN_SECONDS = 4.0
SHUTDOWN_SECONDS = 2.0
BYTES_PER_CHAR = 200
"""The fake TTS speaks 25 ms of audio per character: the answer plays for about two seconds."""
GREETING = "Hello, thanks for calling Acme."
ANSWER = "We are open from nine to five on weekdays, and from ten to two on Saturdays."


def spoken_bytes(text: str) -> int:
    """The audio the caller is sent for ``text``: the fake TTS's per sentence, each padded to whole frames."""
    frame = g711.FRAME_BYTES
    return sum(-(-len(sentence) * BYTES_PER_CHAR // frame) * frame for sentence in split_sentences(text))


def drain_config(tmp_path: Path) -> Path:
    """config.toml with a short drain and shutdown bound."""
    text = (ROOT / "config.toml").read_text()
    for key, value in (("call_drain_seconds", DRAIN_SECONDS), ("shutdown_timeout_seconds", SHUTDOWN_SECONDS)):
        text, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert found == 1, key
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


async def wait_ready(http: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        assert proc.poll() is None, "server exited during start-up"
        try:
            async with http.get(url + "/readyz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("server never became ready")


async def readiness_turns(http: aiohttp.ClientSession, url: str) -> int:
    """The first answer of ``/readyz`` that is not 200 (the signal takes a moment to arrive).

    Connection refused here would mean the listener closed: a load balancer's probe would
    then fail instead of reading "not ready".
    """
    for _ in range(100):
        async with http.get(url + "/readyz") as resp:
            if resp.status != 200:
                return resp.status
        await asyncio.sleep(0.01)
    return 200


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeDeepgram, FakeOpenAi]]:
    deepgram = FakeDeepgram(api_key="test-key", speak_bytes_per_char=BYTES_PER_CHAR)
    deepgram.state.default_transcript = "When are you open?"
    openai = FakeOpenAi(api_key="test-key")
    openai.state.default_reply = ScriptedReply(text=ANSWER)
    await deepgram.start()
    await openai.start()
    yield deepgram, openai
    await deepgram.close()
    await openai.close()


async def test_sigterm_drains_live_calls_in_a_real_process(
        database_url: str, pool: asyncpg.Pool, make_business: MakeBusiness,
        fakes: tuple[FakeDeepgram, FakeOpenAi], tmp_path: Path) -> None:
    deepgram, openai = fakes
    tenant = await make_business("Acme")
    agent_id = await agents.create_agent(pool, tenant.business_id, "Reception", greeting=GREETING,
                                         system_prompt="You answer the phone for Acme.")
    await registry.add_number(pool, tenant.business_id, NUMBER, agent_id=agent_id)
    await fund_wallet(pool, tenant.business_id, 100_000)
    ended_by_itself_at: list[float] = []
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": database_url, "SUPABASE_JWT_SECRET": JWT_SECRET, "PUBLIC_URL": PUBLIC_URL,
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "AGENT_SERVER_CONFIG": str(drain_config(tmp_path)),
           "DEEPGRAM_API_KEY": "test-key", "DEEPGRAM_BASE_URL": deepgram.base_url,
           "OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": openai.base_url}
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "agent-server"), "serve", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession() as http:
            await wait_ready(http, url, proc)
            caller = CallerSimulator(url, AUTH_TOKEN, http, public_url=PUBLIC_URL, quiet_timeout=30.0)
            # The one who finishes hangs up once the answer has played; the stubborn one stays on the line.
            finishing = asyncio.create_task(caller.call(NUMBER, [Say(speech())]))
            stubborn = asyncio.create_task(caller.call(NUMBER, [Say(speech()), HangUp(after_agent_audio=60.0)]))
            while len(openai.state.chat_requests) < 2:
                assert not finishing.done() and not stubborn.done()
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # both answers are playing
            assert not finishing.done() and not stubborn.done()
            proc.send_signal(signal.SIGTERM)
            sigterm_at = time.monotonic()
            finishing.add_done_callback(lambda _: ended_by_itself_at.append(time.monotonic()))
            assert await readiness_turns(http, url) == 503
            assert time.monotonic() - sigterm_at < 0.5
            late = await caller_refused(caller)
            done_by_itself, heard_goodbye = await asyncio.wait_for(asyncio.gather(finishing, stubborn), 30)
        exit_code = await asyncio.get_running_loop().run_in_executor(None, lambda: proc.wait(timeout=30))
        exited_after = time.monotonic() - sigterm_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    output = (tmp_path / "server.log").read_text()
    assert exit_code == 0, output[-4000:]
    assert exited_after <= DRAIN_SECONDS + FINAL_GOODBYE_SECONDS + SHUTDOWN_SECONDS, output[-4000:]
    assert isinstance(late, aiohttp.WSServerHandshakeError) and late.status == 503

    goodbye = "Thank you for calling. Goodbye!"
    assert not done_by_itself.hung_up_by_agent and done_by_itself.replies == 2
    assert ended_by_itself_at[0] < sigterm_at + DRAIN_SECONDS
    assert len(done_by_itself.heard) >= spoken_bytes(GREETING) + spoken_bytes(ANSWER)
    assert heard_goodbye.hung_up_by_agent and heard_goodbye.replies == 3
    assert heard_goodbye.close_code == aiohttp.WSCloseCode.GOING_AWAY
    assert len(heard_goodbye.heard) >= spoken_bytes(GREETING) + spoken_bytes(ANSWER) + spoken_bytes(goodbye)
    assert not_silent(heard_goodbye.heard[-spoken_bytes(goodbye):])
    goodbye_said = [r.at for r in deepgram.state.speak_requests if r.text in split_sentences(goodbye)]
    assert len(goodbye_said) == len(split_sentences(goodbye))
    assert min(goodbye_said) >= sigterm_at + DRAIN_SECONDS

    ends = {r["call_sid"]: r["end_reason"] for r in await pool.fetch("SELECT call_sid, end_reason FROM calls WHERE call_sid = ANY($1)",
                                 [done_by_itself.call_sid, heard_goodbye.call_sid])}
    assert ends == {done_by_itself.call_sid: "caller_hung_up", heard_goodbye.call_sid: "shutdown"}
    await assert_billed_once(pool, tenant.business_id, [done_by_itself.call_sid, heard_goodbye.call_sid])


def not_silent(audio: bytes | bytearray) -> bool:
    """Some frame of ``audio`` carries signal (the fake TTS speaks a tone, silence is 0xFF)."""
    return int(abs(g711.decode_array(bytes(audio)).astype("int32")).max()) > 1000


async def caller_refused(caller: CallerSimulator) -> aiohttp.WSServerHandshakeError | CallResult:
    """A call arriving after SIGTERM: the webhook still answers, but its stream must be refused."""
    try:
        return await caller.call(NUMBER, [Say(speech())])
    except aiohttp.WSServerHandshakeError as exc:
        return exc


async def assert_billed_once(pool: asyncpg.Pool, business_id: uuid.UUID, call_sids: list[str]) -> None:
    for sid in call_sids:
        settles = await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE idempotency_key = $1",
                                      f"call:{sid}:settle")
        status = await pool.fetchval("SELECT status FROM call_meters WHERE call_sid = $1", sid)
        assert (settles, status) == (1, "settled"), sid
    row = await pool.fetchrow(
        "SELECT w.balance, (SELECT sum(amount) FROM ledger_entries e WHERE e.wallet_id = w.id) AS entries"
        " FROM wallets w WHERE w.business_id = $1", business_id)
    assert row is not None and row["balance"] == row["entries"]
