"""Deepgram Aura TTS over streamed REST (``POST /v1/speak``), already in the phone's format.

We ask for ``encoding=mulaw&sample_rate=8000&container=none``: without ``container=none``
Deepgram prepends a WAV header, which Twilio would play as a click. Bytes are forwarded as
they arrive so the caller hears the first syllable before the sentence is fully rendered.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Final

import aiohttp
from yarl import URL

from media.tts.base import TtsError, TtsProvider

DEFAULT_BASE_URL: Final = "https://api.deepgram.com"
DEFAULT_VOICE: Final = "aura-2-thalia-en"


def speak_url(base_url: str, voice: str) -> URL:
    """``{base}/v1/speak`` with the phone-audio query for ``voice`` (a path prefix is kept)."""
    base = URL(base_url)
    query = {"model": voice, "encoding": "mulaw", "sample_rate": "8000", "container": "none"}
    return base.with_path(base.path.rstrip("/") + "/v1/speak").with_query(query)


class DeepgramTts(TtsProvider):
    """Aura REST provider.

    Args:
        session: the process's shared aiohttp session.
        api_key: sent as ``Authorization: Token <key>``.
        base_url: HTTP(S) API root.
        default_voice: Aura model name, e.g. ``aura-2-thalia-en``.
        connect_timeout: seconds to connect.
        read_timeout: longest silence between body chunks before giving up.
    """

    name = "deepgram"

    def __init__(self, session: aiohttp.ClientSession, api_key: str, base_url: str = DEFAULT_BASE_URL, *,
                 default_voice: str = DEFAULT_VOICE, connect_timeout: float = 3.0,
                 read_timeout: float = 10.0) -> None:
        self._session = session
        self._headers = {"Authorization": f"Token {api_key}"}
        self.base_url = base_url
        self.default_voice = default_voice
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)

    async def synthesize(self, text: str, voice: str | None = None) -> AsyncGenerator[bytes, None]:
        """Stream mu-law bytes for ``text`` as Deepgram sends them."""
        if not text.strip():
            return
        url = speak_url(self.base_url, voice or self.default_voice)
        try:
            async with self._session.post(url, json={"text": text}, headers=self._headers,
                                          timeout=self._timeout) as resp:
                if resp.status != 200:
                    detail = (await resp.text())[:200]
                    raise TtsError(f"deepgram speak answered {resp.status}: {detail}", status=resp.status)
                async for chunk in resp.content.iter_any():
                    if chunk:
                        yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TtsError(f"deepgram speak failed: {exc!r}") from exc
