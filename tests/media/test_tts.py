"""Deepgram Aura and OpenAI speech TTS clients against the fakes."""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np
import pytest

from media.audio import g711
from media.tts.base import TtsError
from media.tts.deepgram import DeepgramTts, speak_url
from media.tts.openai_speech import OpenAiSpeech
from tests.fake_deepgram import FakeDeepgram
from tests.fake_openai import FakeOpenAi


def _rms(mulaw: bytes) -> float:
    samples = g711.decode_array(mulaw).astype(np.float64)
    return float(np.sqrt(np.mean(samples**2)))


def test_speak_url_asks_for_headerless_mulaw() -> None:
    """container=none matters: a WAV header would play as a click on the phone."""
    url = speak_url("https://api.deepgram.com/", "aura-2-thalia-en")
    assert str(url) == ("https://api.deepgram.com/v1/speak?model=aura-2-thalia-en&encoding=mulaw"
                        "&sample_rate=8000&container=none")


async def test_deepgram_tts_streams_mulaw_chunks(http: aiohttp.ClientSession, fake_deepgram: FakeDeepgram) -> None:
    """Bytes are yielded as the server sends them; request carries Token auth, query and JSON text."""
    fake_deepgram.state.options.speak_chunk_delay = 0.03
    tts = DeepgramTts(http, "test-key", fake_deepgram.base_url, default_voice="aura-2-luna-en")
    loop = asyncio.get_running_loop()
    started = loop.time()
    arrivals: list[float] = []
    chunks: list[bytes] = []
    async for chunk in tts.synthesize("Hello, welcome in."):
        arrivals.append(loop.time() - started)
        chunks.append(chunk)
    audio = b"".join(chunks)
    assert len(audio) == len("Hello, welcome in.") * 400
    assert len(chunks) > 1 and arrivals[0] < arrivals[-1] - 0.05
    assert _rms(audio) > 1000
    request = fake_deepgram.state.speak_requests[0]
    assert request.text == "Hello, welcome in." and request.authorization == "Token test-key"
    assert request.query == {"model": "aura-2-luna-en", "encoding": "mulaw", "sample_rate": "8000",
                             "container": "none"}


async def test_deepgram_tts_voice_argument_overrides_default(http: aiohttp.ClientSession,
                                                             fake_deepgram: FakeDeepgram) -> None:
    """The voice passed to synthesize() becomes the model query parameter."""
    tts = DeepgramTts(http, "test-key", fake_deepgram.base_url)
    assert [c async for c in tts.synthesize("Hi.", voice="aura-2-orion-en")]
    assert fake_deepgram.state.speak_requests[0].query["model"] == "aura-2-orion-en"


@pytest.mark.parametrize(("key", "failure", "status"), [("test-key", 500, 500), ("wrong", None, 401)])
async def test_deepgram_tts_http_errors_are_tts_errors(http: aiohttp.ClientSession, fake_deepgram: FakeDeepgram,
                                                       key: str, failure: int | None, status: int) -> None:
    """Server errors and bad keys surface as TtsError with the status."""
    if failure is not None:
        fake_deepgram.state.speak_failures.append(failure)
    with pytest.raises(TtsError) as info:
        async for _ in DeepgramTts(http, key, fake_deepgram.base_url).synthesize("Hi."):
            pass
    assert info.value.status == status


async def test_empty_text_makes_no_request(http: aiohttp.ClientSession, fake_deepgram: FakeDeepgram,
                                           fake_openai: FakeOpenAi) -> None:
    """Whitespace-only sentences are skipped without a billable request."""
    assert [c async for c in DeepgramTts(http, "test-key", fake_deepgram.base_url).synthesize("  ")] == []
    assert [c async for c in OpenAiSpeech(http, "test-key", fake_openai.base_url).synthesize("")] == []
    assert fake_deepgram.state.speak_requests == [] and fake_openai.state.speech_requests == []


async def test_openai_speech_resamples_24k_pcm_to_8k_mulaw(http: aiohttp.ClientSession,
                                                           fake_openai: FakeOpenAi) -> None:
    """Odd-sized PCM chunks become 8 kHz mu-law of one third the sample count, same loudness."""
    text = "We are open from nine to five."
    tts = OpenAiSpeech(http, "test-key", fake_openai.base_url, model="tts-1", default_voice="nova")
    chunks = [c async for c in tts.synthesize(text)]
    audio = b"".join(chunks)
    assert len(chunks) > 1 and all(chunks)
    assert abs(len(audio) - len(text) * 1200 // 3) <= 4
    assert abs(_rms(audio[400:-400]) - 6000 / np.sqrt(2)) < 300
    assert fake_openai.state.speech_requests == [{"model": "tts-1", "input": text, "voice": "nova",
                                                  "response_format": "pcm"}]


async def test_openai_speech_error_is_tts_error(http: aiohttp.ClientSession, fake_openai: FakeOpenAi) -> None:
    """A rejected key is a TtsError carrying 401."""
    with pytest.raises(TtsError) as info:
        async for _ in OpenAiSpeech(http, "bad", fake_openai.base_url).synthesize("Hello."):
            pass
    assert info.value.status == 401


async def test_unreachable_tts_is_tts_error(http: aiohttp.ClientSession) -> None:
    """Connection failures are TtsError too, so the pipeline handles one exception type."""
    with pytest.raises(TtsError):
        async for _ in DeepgramTts(http, "k", "http://127.0.0.1:9").synthesize("Hello."):
            pass
