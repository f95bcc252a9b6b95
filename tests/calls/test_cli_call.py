"""`agent-server call`: caller audio from a WAV file, what was heard back to a WAV file, the signed call."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp.test_utils import unused_port

from agent_server import agents
from agent_server.app import make_app
from agent_server.cli import build_parser, main
from agent_server.cli.call import save_wav, wav_to_mulaw
from media.audio import g711
from phone_numbers import registry
from tests.calls.conftest import AUTH_TOKEN, GREETING, NUMBER
from tests.conftest import MakeBusiness, MakeSettings, fund_wallet
from tests.fake_deepgram import FakeDeepgram
from tests.fake_openai import FakeOpenAi


def test_wav_lines_become_8khz_mulaw_and_heard_audio_saves_as_wav(tmp_path: Path) -> None:
    source = tmp_path / "line.wav"
    with wave.open(str(source), "wb") as f:
        f.setnchannels(2)
        f.setsampwidth(2)
        f.setframerate(16000)
        tone = (8000 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 300)).astype("<i2")
        f.writeframes(np.repeat(tone, 2).tobytes())
    mulaw = wav_to_mulaw(source)
    assert abs(len(mulaw) - 8000) < 80
    out = tmp_path / "heard.wav"
    save_wav(out, mulaw)
    with wave.open(str(out), "rb") as f:
        assert (f.getframerate(), f.getnchannels(), f.getsampwidth()) == (8000, 1, 2)
        assert f.getnframes() == len(mulaw)
    assert np.abs(g711.decode_array(mulaw)).max() > 4000


def test_call_command_takes_several_lines() -> None:
    args = build_parser().parse_args(["call", "--to", "+15005550006", "--say", "hi", "--say", "bye",
                                      "--out", "r.wav"])
    assert args.say == ["hi", "bye"] and args.out == Path("r.wav")


async def test_call_with_url_signs_for_the_url_it_calls(make_settings: MakeSettings, aiohttp_client: Any,
                                                       make_business: MakeBusiness, pool: asyncpg.Pool,
                                                       database_url: str, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A server on another port, its PUBLIC_URL saying so: the CLI (its own PUBLIC_URL the default :8080)
    signs the webhook for `--url`, as Twilio signs the URL it requests, and the call goes through (it
    was refused 403 when the CLI signed for its own PUBLIC_URL)."""
    port = unused_port()
    server_url = f"http://127.0.0.1:{port}"
    deepgram, openai = FakeDeepgram(speak_bytes_per_char=80), FakeOpenAi()
    try:
        settings = make_settings(PUBLIC_URL=server_url, TWILIO_AUTH_TOKEN=AUTH_TOKEN, DEEPGRAM_API_KEY="test-key",
                                 DEEPGRAM_BASE_URL=await deepgram.start(), OPENAI_API_KEY="test-key",
                                 OPENAI_BASE_URL=await openai.start())
        await aiohttp_client(make_app(settings), server_kwargs={"port": port})
        tenant = await make_business("Acme")
        agent_id = await agents.create_agent(pool, tenant.business_id, "Reception", greeting=GREETING,
                                             system_prompt="You answer the phone for Acme.")
        await registry.add_number(pool, tenant.business_id, NUMBER, agent_id=agent_id)
        await fund_wallet(pool, tenant.business_id, 100_000)
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        monkeypatch.delenv("PUBLIC_URL", raising=False)
        code = await asyncio.to_thread(main, ["call", "--to", NUMBER, "--url", server_url, "--json"])
    finally:
        await deepgram.close()
        await openai.close()
    out, err = capsys.readouterr()
    assert code == 0, err
    # The server runs in this process and logs to the same stdout, so a log line may follow the CLI's.
    summary = next(d for d in map(json.loads, reversed(out.strip().splitlines())) if "callSid" in d)
    assert [(t["role"], t["text"]) for t in summary["turns"]] == [("assistant", GREETING)]
