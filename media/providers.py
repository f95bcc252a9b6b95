"""Choosing the process's STT, LLM and TTS providers: the real services when keys are set, local ones otherwise.

Built once at startup from plain values (the app's settings are mapped by the caller), so
this module does not depend on the app package and tests can build providers against fakes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import aiohttp
import structlog

from media.llm.base import LlmProvider
from media.llm.local import LocalLlm
from media.llm.openai_sse import OpenAiSseChat
from media.llm.routed import RoutedLlm
from media.stt.base import SttProvider
from media.stt.deepgram import DeepgramStt
from media.stt.local import PocketsphinxStt
from media.tts.base import TtsProvider
from media.tts.deepgram import DeepgramTts
from media.tts.local import EspeakTts
from media.tts.openai_speech import OpenAiSpeech

log = structlog.get_logger(__name__)

TtsKind = Literal["auto", "deepgram", "openai", "local"]


@dataclass(frozen=True, slots=True)
class ProviderNames:
    """Which implementation serves each role (``"deepgram"``, ``"openai"`` or ``"local"``)."""

    stt: str
    llm: str
    tts: str


@dataclass(frozen=True, slots=True)
class Providers:
    """The process's providers, shared by every call and chat."""

    stt: SttProvider
    llm: LlmProvider
    tts: TtsProvider
    names: ProviderNames
    fallback_tts: TtsProvider | None = None
    """The local TTS that speaks a sentence ``tts`` failed on (None when ``tts`` is already local)."""

    async def aclose(self) -> None:
        """Release every provider's resources (the shared aiohttp session is the caller's)."""
        await asyncio.gather(self.stt.aclose(), self.llm.aclose(), self.tts.aclose())


def build_providers(*, session: aiohttp.ClientSession, deepgram_api_key: str | None, deepgram_base_url: str,
                    openai_api_key: str | None, openai_base_url: str, tts_kind: TtsKind = "auto",
                    openai_tts_model: str = "gpt-4o-mini-tts", openai_tts_voice: str = "alloy",
                    deepgram_tts_voice: str = "aura-2-thalia-en", espeak_voice: str = "en-us",
                    named_llms: Mapping[str, tuple[str, str]] | None = None) -> Providers:
    """Pick and construct providers.

    Args:
        session: shared aiohttp session for the Deepgram and speech clients.
        deepgram_api_key: enables Deepgram STT (and Aura TTS under ``auto``) when non-empty.
        deepgram_base_url: Deepgram API root (``https://api.deepgram.com`` in production).
        openai_api_key: enables the OpenAI-compatible LLM when non-empty.
        openai_base_url: API root including ``/v1``.
        tts_kind: ``auto`` prefers Deepgram (native mu-law), then OpenAI, then local.
        openai_tts_model: speech model for the OpenAI TTS.
        openai_tts_voice: default voice for the OpenAI TTS.
        deepgram_tts_voice: default Aura model.
        espeak_voice: default espeak-ng voice for the local TTS.
        named_llms: other OpenAI-compatible servers by name, as (base URL, API key): a model written
            ``NAME:MODEL`` is asked of server NAME (`media.llm.routed`).

    Returns:
        The providers and their names.

    Raises:
        ValueError: ``tts_kind`` names a service whose key is missing.
    """
    stt: SttProvider = (DeepgramStt(session, deepgram_api_key, deepgram_base_url) if deepgram_api_key
                        else PocketsphinxStt())
    llm: LlmProvider = OpenAiSseChat(session, openai_api_key, openai_base_url) if openai_api_key else LocalLlm()
    if named_llms:
        llm = RoutedLlm(llm, {name: OpenAiSseChat(session, key, base_url)
                              for name, (base_url, key) in named_llms.items()})
    kind = _tts_kind(tts_kind, bool(deepgram_api_key), bool(openai_api_key))
    tts: TtsProvider
    if kind == "deepgram" and deepgram_api_key:
        tts = DeepgramTts(session, deepgram_api_key, deepgram_base_url, default_voice=deepgram_tts_voice)
    elif kind == "openai" and openai_api_key:
        tts = OpenAiSpeech(session, openai_api_key, openai_base_url, model=openai_tts_model,
                           default_voice=openai_tts_voice)
    else:
        tts = EspeakTts(espeak_voice)
    names = ProviderNames(stt=stt.name, llm=llm.name, tts=tts.name)
    log.info("media_providers", stt=names.stt, llm=names.llm, tts=names.tts)
    fallback = None if isinstance(tts, EspeakTts) else EspeakTts(espeak_voice)
    return Providers(stt=stt, llm=llm, tts=tts, names=names, fallback_tts=fallback)


def _tts_kind(requested: TtsKind, have_deepgram: bool, have_openai: bool) -> str:
    if requested == "auto":
        return "deepgram" if have_deepgram else "openai" if have_openai else "local"
    if (requested == "deepgram" and not have_deepgram) or (requested == "openai" and not have_openai):
        raise ValueError(f"tts_kind={requested!r} needs that service's API key")
    return requested
