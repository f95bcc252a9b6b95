"""Calls paid from the wallet, end to end: refused without money, stopped when it runs out,
many at once on a small wallet, and billed once after the process holding one is killed."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from billing import call_meter, ledger
from billing.money import Currency
from billing.pricing import voice_charge
from media.caller_simulator import CallerSimulator, Say, sign
from tests.calls.conftest import AUTH_TOKEN, NUMBER, speech
from tests.conftest import JWT_SECRET, PUBLIC_URL

TEN_CENTS_A_SECOND = 600
SENTENCES = " ".join(f"Sentence number {i} is here." for i in range(12))


async def wallet(pool: asyncpg.Pool, line: Any) -> ledger.Wallet:
    found = await ledger.get_wallet(pool, line.tenant.business_id, Currency.USD)
    assert found is not None
    return found


async def test_call_is_refused_politely_when_the_wallet_cannot_pay_the_minimum(line_factory: Any) -> None:
    line = await line_factory(funds=0)
    result = await line.call([Say(speech())])
    assert result.refused_with == line.settings.billing.insufficient_funds_text
    assert line.deepgram.state.connections_opened == 0
    assert await line.pool.fetchval("SELECT count(*) FROM holds") == 0
    assert await line.pool.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'call_usage'") == 0
    assert (await line.call_row(result.call_sid))["end_reason"] == "refused"


async def test_call_that_runs_out_of_money_says_goodbye_inside_its_grant_and_leaves_the_wallet_at_zero(
        line_factory: Any) -> None:
    """With N seconds of credit the goodbye starts `call_goodbye_reserve_seconds` before the grant runs
    out, so the call is over by N s plus at most 1 s at the caller (the grace is only a hard stop)."""
    granted = 4
    line = await line_factory(
        funds=voice_charge(granted, TEN_CENTS_A_SECOND), deepgram_options={"speak_bytes_per_char": 250},
        billing={"voice_per_minute_minor": TEN_CENTS_A_SECOND, "call_minimum_seconds": 2,
                 "call_checkpoint_seconds": 2, "call_end_grace_seconds": 3,
                 # The fake speaks 32 characters a second: a sentence's rest and the goodbye fit.
                 "call_goodbye_reserve_seconds": 1.5})
    line.deepgram.state.say("Tell me everything.")
    line.openai.state.script(SENTENCES)
    started = asyncio.get_running_loop().time()
    result = await line.call([Say(speech())])
    elapsed = asyncio.get_running_loop().time() - started
    await line.settled()
    assert result.clears == 1  # the queued rest of the reply was dropped at the sentence's end
    assert elapsed < granted + 1.0
    turns = await line.turns(result.call_sid)
    assert turns[-1]["role"] == "assistant" and turns[-1]["text"] == line.settings.calls.goodbye_text
    assert not turns[-1]["interrupted"]  # heard to its end, not cut by the hard stop
    call = await line.call_row(result.call_sid)
    assert call["end_reason"] == "out_of_funds" and call["duration_seconds"] <= granted
    after = await wallet(line.pool, line)
    assert (after.balance, after.held, after.available) == (0, 0, 0)
    assert await ledger.conservation_violations(line.pool) == []
    meter = await call_meter.get_meter(line.pool, result.call_sid)
    assert meter is not None and meter.settled_seconds == granted


async def test_a_goodbye_that_will_not_finish_is_cut_at_the_grace(line_factory: Any) -> None:
    """A goodbye far longer than the reserve still ends at the hard stop: the grant plus the grace."""
    granted, grace = 4, 1
    line = await line_factory(
        funds=voice_charge(granted, TEN_CENTS_A_SECOND), deepgram_options={"speak_bytes_per_char": 250},
        calls={"goodbye_text": "Thank you for calling, we are so sorry to see you go. " * 4},
        billing={"voice_per_minute_minor": TEN_CENTS_A_SECOND, "call_minimum_seconds": 2,
                 "call_checkpoint_seconds": 2, "call_end_grace_seconds": grace,
                 "call_goodbye_reserve_seconds": 1.0})
    line.deepgram.state.say("Tell me everything.")
    line.openai.state.script(SENTENCES)
    started = asyncio.get_running_loop().time()
    result = await line.call([Say(speech())])
    elapsed = asyncio.get_running_loop().time() - started
    await line.settled()
    assert granted + grace - 0.5 < elapsed < granted + grace + 1.0
    assert (await line.call_row(result.call_sid))["end_reason"] == "out_of_funds"
    after = await wallet(line.pool, line)
    assert (after.balance, after.held, after.available) == (0, 0, 0)
    meter = await call_meter.get_meter(line.pool, result.call_sid)
    assert meter is not None and meter.settled_seconds == granted  # the grace past the grant is not charged


async def test_many_calls_at_once_never_overdraw_a_small_wallet(line_factory: Any) -> None:
    """Twenty webhooks race for a wallet that covers three first grants: three calls get in."""
    line = await line_factory(funds=voice_charge(3 * 60, 12))
    simulator = line.simulator()

    async def ring(i: int) -> bool:
        form = {"CallSid": f"CA{i:032x}", "AccountSid": "AC" + "0" * 32, "From": "+15551230000", "To": NUMBER,
                "CallStatus": "ringing", "Direction": "inbound"}
        headers = {"X-Twilio-Signature": sign(AUTH_TOKEN, PUBLIC_URL + "/api/voice-agent/handle-call", form)}
        async with simulator.session.post(line.server_url + "/api/voice-agent/handle-call", data=form,
                                          headers=headers) as resp:
            return "<Stream" in await resp.text()

    admitted = await asyncio.gather(*(ring(i) for i in range(20)))
    assert admitted.count(True) == 3
    after = await wallet(line.pool, line)
    assert after.available >= 0 and after.held == voice_charge(3 * 60, 12)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def start_server(env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    exe = Path(sys.executable).parent / "agent-server"
    proc = await asyncio.create_subprocess_exec(str(exe), "serve", "--port", str(port), env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    async with aiohttp.ClientSession() as session:
        for _ in range(400):
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return proc
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not come up")


async def test_a_call_whose_process_is_killed_is_billed_exactly_once_after_restart(
        line_factory: Any, database_url: str, tmp_path: Path) -> None:
    line = await line_factory(funds=100_000)
    config = tmp_path / "config.toml"
    config.write_text(Path("config.toml").read_text().replace(
        "call_checkpoint_seconds = 15", "call_checkpoint_seconds = 1").replace(
        "sweeper_interval_seconds = 30.0", "sweeper_interval_seconds = 0.2"))
    env = {**os.environ, "DATABASE_URL": database_url, "SUPABASE_JWT_SECRET": JWT_SECRET, "PUBLIC_URL": PUBLIC_URL,
           "AGENT_SERVER_CONFIG": str(config), "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "DEEPGRAM_API_KEY": "test-key",
           "DEEPGRAM_BASE_URL": line.settings.deepgram.base_url, "OPENAI_API_KEY": "test-key",
           "OPENAI_BASE_URL": line.settings.openai.base_url}
    line.deepgram.state.say("Tell me everything.")
    line.openai.state.script(SENTENCES * 3)
    port = free_port()
    first = await start_server(env, port)
    simulator = CallerSimulator(f"http://127.0.0.1:{port}", AUTH_TOKEN, line.http, public_url=PUBLIC_URL)
    call = asyncio.create_task(simulator.call(NUMBER, [Say(speech())]))
    try:
        for _ in range(200):
            meter = await line.pool.fetchrow("SELECT call_sid, checkpoints FROM call_meters")
            if meter is not None and meter["checkpoints"] >= 2:
                break
            await asyncio.sleep(0.05)
        assert meter is not None and meter["checkpoints"] >= 2
        first.send_signal(signal.SIGKILL)
        await first.wait()
        await asyncio.gather(call, return_exceptions=True)
        call_sid = meter["call_sid"]
        second = await start_server(env, port)
        try:
            form = {"CallSid": call_sid, "AccountSid": "AC" + "0" * 32, "CallStatus": "completed",
                    "CallDuration": "10", "From": "+15551230000", "To": NUMBER}
            headers = {"X-Twilio-Signature": sign(AUTH_TOKEN, PUBLIC_URL + "/api/voice-agent/status", form)}
            for _ in range(2):  # Twilio retries: a duplicate callback changes nothing
                async with line.http.post(f"http://127.0.0.1:{port}/api/voice-agent/status", data=form,
                                          headers=headers) as resp:
                    assert resp.status == 200
            # Time passes: the dead process's hold expires, and the new process's sweeper settles it.
            await line.pool.execute("UPDATE holds SET expires_at = now() - interval '1 second'"
                                    " WHERE status = 'active'")
            for _ in range(200):
                settled = await call_meter.get_meter(line.pool, call_sid)
                if settled is not None and not settled.open:
                    break
                await asyncio.sleep(0.05)
            await call_meter.sweep(line.pool)
        finally:
            second.send_signal(signal.SIGTERM)
            await second.wait()
    finally:
        if first.returncode is None:
            first.kill()
    assert settled is not None and settled.settle_source == "sweeper:call_duration"
    assert settled.settled_seconds == 10
    settles = await line.pool.fetchval(
        "SELECT count(*) FROM ledger_entries WHERE idempotency_key = $1", f"call:{call_sid}:settle")
    charged = -await line.pool.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE reference = $1", f"call:{call_sid}")
    assert settles == 1
    assert charged == voice_charge(settled.settled_seconds or 0, line.settings.billing.voice_per_minute_minor)
    assert (await wallet(line.pool, line)).held == 0
    assert await ledger.conservation_violations(line.pool) == []



async def test_calls_api_shows_what_each_call_cost(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("What are your opening hours?")
    line.openai.state.script("We open at nine.")
    result = await line.call([Say(speech())])
    await line.settled()
    resp = await line.client.get("/api/calls", headers=line.tenant.headers)
    assert resp.status == 200
    call = (await resp.json())["calls"][0]
    meter = await call_meter.get_meter(line.pool, result.call_sid)
    assert meter is not None and meter.settled_seconds is not None
    assert call["cost"] == {"amount": voice_charge(meter.settled_seconds, meter.per_minute), "currency": "USD"}
