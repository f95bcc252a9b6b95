"""The no-account providers: FAQ responder, espeak-ng TTS, pocketsphinx STT, and provider selection."""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np
import pytest

from media.audio import g711
from media.llm.base import TextDelta, Usage
from media.llm.faq import FaqEntry
from media.llm.local import DEFAULT_FALLBACK, LocalLlm, last_user_text
from media.llm.openai_sse import OpenAiSseChat
from media.providers import build_providers
from media.stt.base import SpeechStarted, Transcript, UtteranceEnd
from media.stt.deepgram import DeepgramStt
from media.stt.local import PocketsphinxStt, jsgf_grammar
from media.tts.deepgram import DeepgramTts
from media.tts.local import EspeakTts
from media.tts.openai_speech import OpenAiSpeech
from tests.audio_samples import silence_mulaw

FAQ = [FaqEntry("What are your opening hours?", "We open at nine."),
       FaqEntry("How much is a haircut?", "Thirty dollars.")]


async def test_local_llm_answers_from_faq_word_by_word() -> None:
    """A matching question streams the FAQ answer as word deltas, then a Usage."""
    events = [e async for e in LocalLlm().stream_chat(
        [{"role": "system", "content": "x"}, {"role": "user", "content": "when are you open"}], model="local", faq=FAQ)]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["We ", "open ", "at ", "nine."]
    assert events[-1] == Usage(prompt_tokens=5, completion_tokens=4)


async def test_local_llm_falls_back_politely() -> None:
    """An unmatched question gets the fallback reply."""
    events = [e async for e in LocalLlm().stream_chat([{"role": "user", "content": "tell me a joke"}],
                                                      model="local", faq=FAQ)]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == DEFAULT_FALLBACK


def test_last_user_text_reads_string_and_part_contents() -> None:
    """The latest user turn counts, whether its content is a string or a list of text parts."""
    assert last_user_text([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]) == "a"
    assert last_user_text([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]) == "hi"
    assert last_user_text([]) == ""


async def test_espeak_tts_yields_phone_audio_in_small_chunks() -> None:
    """espeak-ng output arrives as 8 kHz mu-law, a plausible length, in chunks of at most 200 ms."""
    chunks = [c async for c in EspeakTts().synthesize("Hello, thanks for calling.")]
    audio = b"".join(chunks)
    assert 0.8 < len(audio) / 8000 < 4.0
    assert all(0 < len(c) <= 1600 for c in chunks)
    assert float(np.abs(g711.decode_array(audio).astype(np.float64)).mean()) > 200
    assert [c async for c in EspeakTts().synthesize(" ")] == []


def test_jsgf_grammar_lists_known_phrases_only() -> None:
    """Phrases become lower-case alternatives; ones with unknown words are left out."""
    grammar = jsgf_grammar(["What are your opening hours?", "Book Glamcuts", "what are your opening hours"],
                           known={"what", "are", "your", "opening", "hours", "book"})
    assert grammar == "#JSGF V1.0;\ngrammar phrases;\npublic <phrase> = what are your opening hours;\n"
    assert jsgf_grammar(["?!"]) is None


async def test_pocketsphinx_transcribes_espeak_speech_with_faq_grammar() -> None:
    """Synthesised speech sent as 20 ms phone frames gives SpeechStarted, the final text and UtteranceEnd."""
    tts = EspeakTts()
    speech = b"".join([c async for c in tts.synthesize("What are your opening hours?")])
    audio = silence_mulaw(0.3) + speech + silence_mulaw(0.8)
    stt = PocketsphinxStt(fallback_to_generic=False)
    try:
        session = await stt.open_session("en-US", phrases=[e.question for e in FAQ])
        for i in range(0, len(audio), 160):
            session.send_audio(audio[i : i + 160])
        async with asyncio.timeout(10):
            await session.close()
            events = [e async for e in session]
    finally:
        await stt.aclose()
    assert [type(e) for e in events] == [SpeechStarted, Transcript, UtteranceEnd]
    transcript = events[1]
    assert isinstance(transcript, Transcript)
    assert (transcript.text, transcript.is_final, transcript.speech_final) == ("what are your opening hours",
                                                                                True, True)
    assert transcript.start == pytest.approx(0.3, abs=0.1)


async def test_build_providers_picks_local_without_keys_and_real_with_keys() -> None:
    """No keys → local everything; keys → Deepgram STT/TTS and OpenAI LLM; tts_kind can pick OpenAI speech."""
    async with aiohttp.ClientSession() as http:
        common = {"session": http, "deepgram_base_url": "http://127.0.0.1:9", "openai_base_url": "http://127.0.0.1:9/v1"}
        local = build_providers(deepgram_api_key=None, openai_api_key="", **common)  # type: ignore[arg-type]
        assert (local.names.stt, local.names.llm, local.names.tts) == ("local", "local", "local")
        assert isinstance(local.tts, EspeakTts) and isinstance(local.stt, PocketsphinxStt)
        real = build_providers(deepgram_api_key="d", openai_api_key="o", **common)  # type: ignore[arg-type]
        assert isinstance(real.stt, DeepgramStt) and isinstance(real.llm, OpenAiSseChat)
        assert isinstance(real.tts, DeepgramTts)
        speech = build_providers(deepgram_api_key=None, openai_api_key="o", tts_kind="auto", **common)  # type: ignore[arg-type]
        assert isinstance(speech.tts, OpenAiSpeech) and speech.names.tts == "openai"
        with pytest.raises(ValueError, match="needs that service's API key"):
            build_providers(deepgram_api_key=None, openai_api_key="o", tts_kind="deepgram", **common)  # type: ignore[arg-type]
        for providers in (local, real, speech):
            await providers.aclose()
