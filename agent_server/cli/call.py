"""`agent-server call`: phone the agent from the terminal through a simulated Twilio, and see the conversation.

The caller's lines are synthesised locally (espeak-ng) or read from a WAV file; the call
goes through the real webhook and media stream of a running server (``make run``), so what
it prints — the transcript the server recorded and each turn's latency — is what a phone
caller would have got.
"""

from __future__ import annotations

import argparse
import asyncio
import wave
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np

from agent_server.cli.common import CliError, Context, add_json_flag, output
from media import call_records
from media.audio import g711
from media.audio.resample import StreamResampler
from media.caller_simulator import CallerSimulator, CallResult, Say, Step
from media.tts.local import EspeakTts


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("call", help="call an agent through a simulated Twilio and print the conversation")
    p.add_argument("--to", required=True, help="the agent's number, E.164")
    p.add_argument("--say", action="append", default=[], help="a caller line (repeat for more turns)")
    p.add_argument("--wav", action="append", default=[], type=Path, help="a caller line from a WAV file")
    p.add_argument("--out", type=Path, help="save what the caller heard as a WAV file")
    p.add_argument("--url", help="server base URL, which the webhook is signed for (default: server.public_url)")
    p.add_argument("--from", dest="from_number", default="+15551230000", help="caller id")
    add_json_flag(p)
    p.set_defaults(handler=cmd_call)


def wav_to_mulaw(path: Path) -> bytes:
    """A WAV file (any rate, 16-bit, mono or stereo) as 8 kHz mu-law."""
    try:
        with wave.open(str(path), "rb") as f:
            if f.getsampwidth() != 2:
                raise CliError(f"{path}: only 16-bit WAV files are supported")
            samples = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
            if f.getnchannels() > 1:
                samples = samples.reshape(-1, f.getnchannels()).mean(axis=1).astype(np.int16)
            rate = f.getframerate()
    except (OSError, wave.Error) as exc:
        raise CliError(f"cannot read {path}: {exc}") from exc
    resampler = StreamResampler(rate, g711.SAMPLE_RATE)
    pcm = resampler.process(samples.astype("<i2").tobytes()) + resampler.flush()
    return g711.encode(pcm)


async def synthesize(text: str) -> bytes:
    """The caller's line spoken by the local TTS, as 8 kHz mu-law."""
    return b"".join([chunk async for chunk in EspeakTts().synthesize(text)])


def save_wav(path: Path, mulaw: bytes) -> None:
    """What the caller heard, as 8 kHz 16-bit PCM."""
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(g711.SAMPLE_RATE)
        f.writeframes(g711.decode(mulaw))


async def _place_call(ctx: Context, args: argparse.Namespace) -> CallResult:
    settings = ctx.settings
    if not settings.twilio.auth_token:
        raise CliError("TWILIO_AUTH_TOKEN must be set (the same value the server uses) to sign the webhook")
    steps: list[Step] = [Say(await synthesize(text)) for text in args.say]
    steps += [Say(wav_to_mulaw(path)) for path in args.wav]
    url = args.url or settings.server.public_url
    async with aiohttp.ClientSession() as session:
        # Signed for the URL it calls, as Twilio signs the URL it requests (not this CLI's own PUBLIC_URL);
        # the stream is signed for the URL the server's TwiML names, as Twilio does too.
        simulator = CallerSimulator(url, settings.twilio.auth_token, session)
        try:
            return await simulator.call(args.to, steps, from_number=args.from_number)
        except (aiohttp.ClientError, OSError) as exc:
            raise CliError(f"cannot reach the server at {url}: {exc}") from exc
        except RuntimeError as exc:
            hint = (f" (signed for {url}: the server checks against its PUBLIC_URL and TWILIO_AUTH_TOKEN, so"
                    " call it at its PUBLIC_URL with the same token)" if "TWILIO_SIGNATURE_INVALID" in str(exc) else "")
            raise CliError(f"{exc}{hint}") from exc


async def _recorded(pool: asyncpg.Pool, call_sid: str) -> dict[str, Any]:
    for _ in range(50):  # the server closes the call row just after the socket
        call_id = await call_records.call_id_for_sid(pool, call_sid)
        row = await call_records.get_call(pool, call_id) if call_id else None
        if row is not None and row["ended_at"] is not None:
            return {"call": row, "turns": await call_records.turns_of(pool, row["id"])}
        await asyncio.sleep(0.1)
    return {"call": None, "turns": []}


def cmd_call(ctx: Context, args: argparse.Namespace) -> int:
    result = asyncio.run(_place_call(ctx, args))
    if args.out:
        save_wav(args.out, bytes(result.heard))
    if result.refused_with is not None:
        return output(args, {"callSid": result.call_sid, "refused": result.refused_with},
                      f"call refused: {result.refused_with}")
    try:
        recorded = ctx.run_db(lambda pool: _recorded(pool, result.call_sid))
    except (OSError, asyncpg.PostgresError):
        recorded = {"call": None, "turns": []}
    lines = []
    for turn in recorded["turns"]:
        latency = "" if turn["server_latency_ms"] is None else (
            f"   [server {turn['server_latency_ms']} ms, at the ear {turn['ear_latency_ms']} ms]")
        cut = " (interrupted)" if turn["interrupted"] else ""
        lines.append(f"{'agent ' if turn['role'] == 'assistant' else 'caller'}: {turn['text']}{cut}{latency}")
    lines.append("caller-side response latency: " + (", ".join(f"{v:.0f} ms" for v in result.turn_latencies_ms)
                                                      or "n/a"))
    if args.out:
        lines.append(f"saved what the agent said to {args.out}")
    data = {"callSid": result.call_sid, "turns": recorded["turns"], "turnLatenciesMs": result.turn_latencies_ms,
            "bargeInLatenciesMs": result.barge_in_latencies_ms, "gapsMs": result.gaps_ms}
    return output(args, data, "\n".join(lines))
