"""Deepgram live STT client against the fake Deepgram, including reconnect after a drop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from media.stt.base import SpeechStarted, SttError, SttEvent, SttUnavailable, Transcript, UtteranceEnd
from media.stt.deepgram import DeepgramSession, DeepgramStt, listen_url, parse_event
from tests.audio_samples import silence_mulaw, tone_mulaw
from tests.fake_deepgram import FakeDeepgram


def _utterance(speech: float = 0.6, pause: float = 1.3) -> list[bytes]:
    audio = tone_mulaw(speech) + silence_mulaw(pause)
    return [audio[i : i + 160] for i in range(0, len(audio), 160)]


def _send(session: DeepgramSession, frames: list[bytes]) -> None:
    for frame in frames:
        session.send_audio(frame)


async def _until(events: AsyncIterator[SttEvent], kind: type, timeout: float = 5.0) -> list[SttEvent]:
    """Collect events up to and including the first of ``kind``."""
    seen: list[SttEvent] = []
    async with asyncio.timeout(timeout):
        async for event in events:
            seen.append(event)
            if isinstance(event, kind):
                return seen
    raise AssertionError(f"stream ended before {kind.__name__}: {seen}")


def _provider(http: aiohttp.ClientSession, fake: FakeDeepgram, **kwargs: Any) -> DeepgramStt:
    return DeepgramStt(http, "test-key", fake.base_url, **kwargs)


def test_listen_url_is_derived_from_the_http_base_url() -> None:
    """https becomes wss, http becomes ws, a path prefix is kept, and the phone query is complete."""
    url = listen_url("https://dg.example.com/proxy/", "en-US")
    assert str(url).startswith("wss://dg.example.com/proxy/v1/listen?")
    assert dict(url.query) == {
        "model": "nova-3", "encoding": "mulaw", "sample_rate": "8000", "channels": "1", "interim_results": "true",
        "endpointing": "300", "utterance_end_ms": "1000", "vad_events": "true", "smart_format": "true",
        "punctuate": "true", "language": "en-US",
    }
    assert listen_url("http://127.0.0.1:9", "de").scheme == "ws"
    with pytest.raises(ValueError):
        listen_url("ftp://x", "en")


def test_parse_event_maps_deepgram_messages_and_applies_the_offset() -> None:
    """Results, SpeechStarted, UtteranceEnd and Error become typed events; Metadata is dropped."""
    results = {"type": "Results", "start": 1.0, "duration": 0.5, "is_final": True, "speech_final": False,
               "channel": {"alternatives": [{"transcript": "hi there"}]}}
    assert parse_event(results, 10.0) == Transcript("hi there", True, False, 11.0, 0.5)
    assert parse_event({"type": "SpeechStarted", "timestamp": 2}, 1.0) == SpeechStarted(3.0)
    assert parse_event({"type": "UtteranceEnd", "last_word_end": 4.5}) == UtteranceEnd(4.5)
    assert parse_event({"type": "Error", "description": "bad"}) == SttError("deepgram: bad", True)
    assert parse_event({"type": "Metadata"}) is None
    assert parse_event({"type": "Results", "channel": {"alternatives": []}}) == Transcript("", False, False, 0.0, 0.0)


async def test_utterance_yields_speech_started_interim_final_and_utterance_end(
        http: aiohttp.ClientSession, fake_deepgram: FakeDeepgram) -> None:
    """Speech then silence produces the real event sequence, authenticated, with the phone query."""
    fake_deepgram.state.say("book me for monday")
    session = await _provider(http, fake_deepgram).open_session("en-US")
    events = aiter(session)
    _send(session, _utterance())
    seen = await _until(events, UtteranceEnd)
    assert isinstance(seen[0], SpeechStarted) and seen[0].timestamp == pytest.approx(0.0)
    interim, final = (e for e in seen if isinstance(e, Transcript))
    assert (interim.text, interim.is_final) == ("book me", False)
    assert (final.text, final.is_final, final.speech_final) == ("book me for monday", True, True)
    assert final.duration == pytest.approx(0.6, abs=0.05)
    await session.close()
    assert [e async for e in events] == []
    state = fake_deepgram.state
    assert state.listen_queries[0]["language"] == "en-US" and state.listen_queries[0]["encoding"] == "mulaw"
    assert state.close_streams == 1
    assert (state.connections_opened, state.connections_closed) == (1, 1)
    assert state.audio_bytes == sum(len(f) for f in _utterance())


async def test_close_flushes_an_utterance_in_progress(http: aiohttp.ClientSession,
                                                      fake_deepgram: FakeDeepgram) -> None:
    """Audio queued before close() is sent before CloseStream and its final result is delivered."""
    fake_deepgram.state.say("goodbye")
    session = await _provider(http, fake_deepgram).open_session("en-US")
    session.send_audio(tone_mulaw(0.5))
    await session.close()
    finals = [e async for e in session if isinstance(e, Transcript) and e.is_final]
    assert [f.text for f in finals] == ["goodbye"]
    session.send_audio(b"\xff" * 160)
    await session.close()


async def test_session_reconnects_after_a_drop_and_keeps_the_audio_clock(
        http: aiohttp.ClientSession, fake_deepgram: FakeDeepgram) -> None:
    """A dropped socket is reopened; the next utterance is transcribed with times after the first."""
    state = fake_deepgram.state
    state.say("first question", "second question")
    session = await _provider(http, fake_deepgram, backoff=0.01).open_session("en-US")
    events = aiter(session)
    _send(session, _utterance())
    first = [e for e in await _until(events, UtteranceEnd) if isinstance(e, Transcript) and e.is_final]
    assert state.drop_connections() == 1
    lost = await _until(events, SttError)
    assert isinstance(lost[-1], SttError) and lost[-1].recoverable
    _send(session, _utterance())
    second = [e for e in await _until(events, UtteranceEnd) if isinstance(e, Transcript) and e.is_final]
    assert [t.text for t in first + second] == ["first question", "second question"]
    assert second[0].start >= first[0].start + 1.5
    assert session.reconnects == 1
    await session.close()
    assert (state.connections_opened, state.connections_closed) == (2, 2)


async def test_drop_mid_audio_reconnects_and_audio_keeps_flowing(http: aiohttp.ClientSession,
                                                                  fake_deepgram: FakeDeepgram) -> None:
    """A socket dropped in the middle of a stream (after 0.2 s of audio) is replaced transparently."""
    state = fake_deepgram.state
    state.drop_after_bytes = 1600
    session = await _provider(http, fake_deepgram, backoff=0.01).open_session("en-US")
    events = aiter(session)
    _send(session, _utterance(speech=0.1, pause=0.3))
    await _until(events, SttError)
    async with asyncio.timeout(5):
        while session.reconnects == 0:
            await asyncio.sleep(0.01)
    before = state.audio_bytes
    _send(session, _utterance(speech=0.1, pause=0.3))
    await session.close()
    assert state.connections_opened == 2
    assert state.audio_bytes == before + len(b"".join(_utterance(speech=0.1, pause=0.3)))


async def test_session_gives_up_after_bounded_reconnects(http: aiohttp.ClientSession,
                                                         fake_deepgram: FakeDeepgram) -> None:
    """When every reconnect is refused the session reports a final error and iteration ends."""
    state = fake_deepgram.state
    session = await _provider(http, fake_deepgram, backoff=0.01, max_reconnects=2).open_session("en-US")
    state.reject_handshakes = 10
    state.drop_connections()
    async with asyncio.timeout(5):
        errors = [e async for e in session]
    assert [(type(e), e.recoverable) for e in errors if isinstance(e, SttError)] == [
        (SttError, True), (SttError, True), (SttError, False)]
    assert state.rejected_handshakes == 2
    await session.close()


async def test_keepalive_is_sent_while_no_audio_flows(http: aiohttp.ClientSession,
                                                      fake_deepgram: FakeDeepgram) -> None:
    """Without audio the client sends KeepAlive text frames so Deepgram does not time out."""
    session = await _provider(http, fake_deepgram, keepalive_interval=0.05).open_session("en-US")
    await asyncio.sleep(0.3)
    await session.close()
    assert fake_deepgram.state.keepalives >= 3


async def test_bad_key_fails_to_open(http: aiohttp.ClientSession, fake_deepgram: FakeDeepgram) -> None:
    """A rejected handshake (401) is SttUnavailable, not a session that never speaks."""
    with pytest.raises(SttUnavailable):
        await DeepgramStt(http, "wrong", fake_deepgram.base_url).open_session("en-US")


async def test_audio_buffer_is_bounded_and_drops_oldest(http: aiohttp.ClientSession,
                                                        fake_deepgram: FakeDeepgram) -> None:
    """Queued audio beyond the bound is dropped (oldest first) instead of growing memory."""
    provider = DeepgramStt(http, "test-key", fake_deepgram.base_url, audio_buffer_chunks=10)
    session = await provider.open_session("en-US")
    for _ in range(50):
        session.send_audio(b"\xff" * 160)
    assert session.dropped_chunks == 40
    await session.close()


async def test_audio_queued_while_the_sender_was_busy_goes_out_in_few_messages(
        http: aiohttp.ClientSession, fake_deepgram: FakeDeepgram) -> None:
    """A backlog is sent as joined messages (at most 0.5 s of audio each), and every byte arrives."""
    session = await _provider(http, fake_deepgram).open_session("en-US")
    frames = [bytes([i]) * 160 for i in range(60)]
    _send(session, frames)
    await session.close()
    state = fake_deepgram.state
    assert state.audio_bytes == 60 * 160
    assert state.audio_messages == 3


async def test_paced_audio_goes_out_frame_by_frame(http: aiohttp.ClientSession,
                                                   fake_deepgram: FakeDeepgram) -> None:
    """A frame that finds the sender idle is sent at once, on its own: nothing waits to be batched."""
    session = await _provider(http, fake_deepgram).open_session("en-US")
    for _ in range(5):
        session.send_audio(b"\xff" * 160)
        await asyncio.sleep(0.01)
    await session.close()
    assert (fake_deepgram.state.audio_bytes, fake_deepgram.state.audio_messages) == (800, 5)


async def test_rapid_repeated_drops_share_one_reconnect_budget(http: aiohttp.ClientSession,
                                                               fake_deepgram: FakeDeepgram) -> None:
    """A server that keeps dropping right after accepting cannot keep the session reconnecting forever."""
    state = fake_deepgram.state
    session = await _provider(http, fake_deepgram, backoff=0.01, max_reconnects=3).open_session("en-US")

    async def drop_every_connection() -> None:
        while True:
            state.drop_connections()
            await asyncio.sleep(0.002)

    dropper = asyncio.create_task(drop_every_connection())
    try:
        async with asyncio.timeout(5):
            errors = [e async for e in session]
    finally:
        dropper.cancel()
    assert [(type(e), e.recoverable) for e in errors if isinstance(e, SttError)] == [
        (SttError, True), (SttError, True), (SttError, True), (SttError, False)]
    assert session.reconnects == 3
    await session.close()
