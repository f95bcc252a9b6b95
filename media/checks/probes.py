"""The media providers' checks: a 1-token streamed completion per model, "Hello." per voice, a clip per language.

Each is the smallest real round trip that proves what a call needs: the key is accepted, the
model or voice exists, and the stream comes back. They run concurrently, each within its own
5 s (`results.timed`), so one hanging provider costs the whole check 5 s, not the sum.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files

import aiohttp
import orjson

from media.checks.results import CheckFailed, CheckResult, refused, timed
from media.config import DeepgramConfig, OpenAIConfig
from media.stt.base import SttProvider
from media.stt.deepgram import listen_url
from media.tts.base import TtsError, TtsProvider

CLIP = files("media.checks").joinpath("hello_1s.ulaw")
"""One second of "Hello." at 8 kHz mu-law (espeak-ng, padded with silence): what the STT check says."""
FRAME_BYTES = 160


@dataclass(frozen=True, slots=True)
class Targets:
    """What the agent's channels use: every distinct model, voice and call language."""

    models: tuple[str, ...]
    voices: tuple[str, ...]
    languages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MediaAccounts:
    """The process's provider accounts and clients (the shell maps its settings and providers here)."""

    session: aiohttp.ClientSession
    openai: OpenAIConfig
    deepgram: DeepgramConfig
    tts: TtsProvider
    stt: SttProvider


async def _completion(session: aiohttp.ClientSession, openai: OpenAIConfig, model: str) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1, "stream": True}
    async with session.post(openai.base_url.rstrip("/") + "/chat/completions", json=body,
                            headers={"Authorization": f"Bearer {openai.api_key}"}) as resp:
        if resp.status != 200:
            raise refused(resp.status, await resp.text(), not_found="model_not_found", what=f"model {model}")
        async for line in resp.content:
            if line.startswith(b"data:"):
                return  # the first event proves the stream: no need to wait for the rest
    raise CheckFailed("unreachable", "the stream ended without an event")


async def _speech(tts: TtsProvider, voice: str) -> None:
    try:
        async for _ in tts.synthesize("Hello.", voice or None):
            pass
    except TtsError as exc:
        if exc.status is None:
            raise CheckFailed("unreachable" if tts.name != "local" else "voice_not_found", str(exc)) from None
        raise refused(exc.status, str(exc), not_found="voice_not_found", what=f"voice {voice}") from None


async def _deepgram_listen(session: aiohttp.ClientSession, deepgram: DeepgramConfig, language: str) -> None:
    """Send the clip, close the stream and wait for Deepgram's final result for it."""
    url = listen_url(deepgram.base_url, language, model=deepgram.stt_model)
    try:
        ws = await session.ws_connect(url, headers={"Authorization": f"Token {deepgram.api_key}"})
    except aiohttp.WSServerHandshakeError as exc:
        raise refused(exc.status, exc.message, not_found="model_not_found",
                      what=f"{deepgram.stt_model} in {language}") from None
    async with ws:
        clip = CLIP.read_bytes()
        for start in range(0, len(clip), FRAME_BYTES * 25):
            await ws.send_bytes(clip[start:start + FRAME_BYTES * 25])
        await ws.send_str('{"type": "CloseStream"}')
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            event = orjson.loads(msg.data)
            if event.get("type") == "Results" and event.get("is_final"):
                return
    raise CheckFailed("unreachable", "the stream closed without a final result")


async def _local_listen(stt: SttProvider, language: str) -> None:
    session = await stt.open_session(language)
    try:
        session.send_audio(CLIP.read_bytes())
    finally:
        await session.close()


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


async def check_media(accounts: MediaAccounts, targets: Targets) -> list[CheckResult]:
    """Every model, voice and language of `targets`, checked at once; the results in that order.

    Without an OpenAI key answers come from the local model, without a Deepgram key speech is
    heard by pocketsphinx: those are checked in-process and say `local: true`.
    """
    session, openai = accounts.session, accounts.openai
    checks = []
    for model in _distinct(targets.models):
        checks.append(timed("openai", "llm", model, _completion(session, openai, model)) if openai.api_key
                      else timed("local", "llm", model, asyncio.sleep(0), local=True))
    tts = accounts.tts
    for voice in _distinct(targets.voices):
        checks.append(timed(tts.name, "tts", voice, _speech(tts, voice), local=tts.name == "local"))
    for language in _distinct(targets.languages):
        checks.append(timed("deepgram", "stt", language, _deepgram_listen(session, accounts.deepgram, language))
                      if accounts.deepgram.api_key
                      else timed(accounts.stt.name, "stt", language, _local_listen(accounts.stt, language), local=True))
    return list(await asyncio.gather(*checks))
