"""OpenAI-compatible TTS (``POST {base}/audio/speech``, raw 24 kHz PCM) converted to 8 kHz mu-law.

``response_format=pcm`` has no header and streams, so audio is resampled 3:1 and encoded
chunk by chunk as it arrives (a network chunk may split a sample: the resampler carries the
odd byte). Raw aiohttp on the shared session keeps one HTTP stack for every streamed body.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Final

import aiohttp

from media.audio import g711
from media.audio.resample import StreamResampler
from media.tts.base import TtsError, TtsProvider

DEFAULT_BASE_URL: Final = "https://api.openai.com/v1"
DEFAULT_MODEL: Final = "gpt-4o-mini-tts"
DEFAULT_VOICE: Final = "alloy"
PCM_RATE: Final = 24000


class OpenAiSpeech(TtsProvider):
    """OpenAI speech provider.

    Args:
        session: the process's shared aiohttp session.
        api_key: bearer key.
        base_url: API root including ``/v1``.
        model: TTS model name.
        default_voice: voice used when ``synthesize`` gets none.
        instructions: optional speaking-style hint (ignored by ``tts-1`` models).
        connect_timeout: seconds to connect.
        read_timeout: longest silence between body chunks before giving up.
    """

    name = "openai"

    def __init__(self, session: aiohttp.ClientSession, api_key: str, base_url: str = DEFAULT_BASE_URL, *,
                 model: str = DEFAULT_MODEL, default_voice: str = DEFAULT_VOICE, instructions: str | None = None,
                 connect_timeout: float = 3.0, read_timeout: float = 10.0) -> None:
        self._session = session
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._url = base_url.rstrip("/") + "/audio/speech"
        self.model = model
        self.default_voice = default_voice
        self.instructions = instructions
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)

    async def synthesize(self, text: str, voice: str | None = None) -> AsyncGenerator[bytes, None]:
        """Stream mu-law bytes for ``text`` as the PCM arrives."""
        if not text.strip():
            return
        body: dict[str, str] = {"model": self.model, "input": text, "voice": voice or self.default_voice,
                                "response_format": "pcm"}
        if self.instructions:
            body["instructions"] = self.instructions
        resampler = StreamResampler(PCM_RATE, g711.SAMPLE_RATE)
        try:
            async with self._session.post(self._url, json=body, headers=self._headers,
                                          timeout=self._timeout) as resp:
                if resp.status != 200:
                    detail = (await resp.text())[:200]
                    raise TtsError(f"speech endpoint answered {resp.status}: {detail}", status=resp.status)
                async for chunk in resp.content.iter_any():
                    mulaw = g711.encode(resampler.process(chunk))
                    if mulaw:
                        yield mulaw
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TtsError(f"speech request failed: {exc!r}") from exc
        tail = g711.encode(resampler.flush())
        if tail:
            yield tail
