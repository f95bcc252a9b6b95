"""A call from the widget's mic button in a real browser (headless Debian Chromium through Playwright).

Chromium's fake microphone plays q.wav, made with espeak-ng: silence while the call connects
and greets, a question, then a phrase timed to land in the middle of the answer. The page is
the agent's hosted chat page (its own origin); the providers are the Deepgram and OpenAI fakes
at the wire, so the fake Deepgram hears the espeak speech by its energy and answers from its
script. The reaction to the interruption is measured on the server, as /metrics reports it:
from the STT's speech start reaching the call to the ``clear`` written to the browser.
"""

from __future__ import annotations

import asyncio
import dataclasses
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright, expect
from prometheus_client.parser import text_string_to_metric_families

from agent_server import agents, tenants
from agent_server.app import make_app
from media.tts.local import espeak_engine
from tests.calls.test_live_call import LONG_REPLY
from tests.conftest import MakeSettings, fund_wallet
from tests.fake_deepgram import FakeDeepgram
from tests.fake_openai import FakeOpenAi
from tests.messaging.test_widget_browser import CHROMIUM, CHROMIUM_ARGS, free_port

QUESTION_AT = 2.5
"""Seconds into the microphone's audio: the call has connected and greeted by then."""
PHRASE_AT = 6.0
"""About 1.5 s into the answer (which starts near 4.5 s and lasts about 3.7 s)."""
NOTICE = "This call is recorded."


def _speech_wav(path: Path) -> None:
    """q.wav: silence, the question at QUESTION_AT, the interruption at PHRASE_AT (espeak-ng, 22050 Hz mono)."""
    engine = espeak_engine()
    rate = engine.sample_rate
    question = np.frombuffer(engine.synthesize_pcm("What are your opening hours?", "en-us"), dtype=np.int16)
    phrase = np.frombuffer(engine.synthesize_pcm("Please stop", "en-us"), dtype=np.int16)
    audio = np.zeros(int((PHRASE_AT + 3.0) * rate), dtype=np.int16)
    audio[int(QUESTION_AT * rate):int(QUESTION_AT * rate) + len(question)] = question
    audio[int(PHRASE_AT * rate):int(PHRASE_AT * rate) + len(phrase)] = phrase
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(audio.tobytes())


@pytest.fixture
async def speaking_browser(tmp_path: Path) -> AsyncIterator[Browser]:
    """Chromium whose microphone says q.wav once, granted without a prompt."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium: run `make install-dev` (as root)")
    wav = tmp_path / "q.wav"
    _speech_wav(wav)
    args = [*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop", "--autoplay-policy=no-user-gesture-required"]
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield launched
        await launched.close()


async def _counters(page: Page) -> dict[str, Any]:
    counters: dict[str, Any] = await page.evaluate("() => ({...window.__agentVoice})")
    return counters


async def _until(page: Page, condition: str, timeout: float = 20.0) -> dict[str, Any]:
    """The page's counters once ``condition`` (a JS expression over ``c``, the counters) holds."""
    await page.wait_for_function(f"() => {{ const c = window.__agentVoice; return c && ({condition}); }}",
                                 timeout=timeout * 1000)
    return await _counters(page)


async def _barge_in_seconds(port: int, http: Any) -> tuple[float, float]:
    """The server's barge-in reactions from /metrics: (count, sum of seconds)."""
    async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        text = await resp.text()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    key = (("stage", "barge_in"),)
    return (samples.get(("agent_call_stage_latency_seconds_count", key), 0.0),
            samples.get(("agent_call_stage_latency_seconds_sum", key), 0.0))


async def test_the_mic_button_calls_the_agent_and_the_callers_phrase_stops_the_answer(
        speaking_browser: Browser, make_settings: MakeSettings, pool: asyncpg.Pool, aiohttp_client: Any,
        tmp_path: Path) -> None:
    import aiohttp

    deepgram = FakeDeepgram(speak_bytes_per_char=200)
    openai = FakeOpenAi()
    port = free_port()
    settings = make_settings(PUBLIC_URL=f"http://127.0.0.1:{port}", DEEPGRAM_API_KEY="test-key",
                             DEEPGRAM_BASE_URL=await deepgram.start(), OPENAI_API_KEY="test-key",
                             OPENAI_BASE_URL=await openai.start())
    settings = dataclasses.replace(
        settings, calls=dataclasses.replace(settings.calls, false_interruption_timeout_seconds=0.4),
        recordings=dataclasses.replace(settings.recordings, dir=str(tmp_path / "recordings")))
    business_id = await tenants.create_business(pool, "Demo Dental")
    agent_id = await agents.create_agent(pool, business_id, "Reception", greeting="Hello.",
                                         system_prompt="You answer for Demo Dental.")
    await pool.execute("UPDATE agents SET channels = $2 WHERE id = $1", agent_id,
                       {"widget": {"voiceEnabled": True, "messengerEnabled": True},
                        "voice": {"recording": {"enabled": True, "noticeText": NOTICE}}})
    await fund_wallet(pool, business_id)
    deepgram.state.say("What are your opening hours?", "Please stop.")
    openai.state.script(LONG_REPLY, "Of course.")
    try:
        await aiohttp_client(make_app(settings), server_kwargs={"port": port})
        page = await speaking_browser.new_page()
        await page.goto(f"http://127.0.0.1:{port}/m/{agent_id}?autoOpen=1")
        mic = page.locator("button.mic")
        await expect(mic).to_be_enabled()
        await mic.click()
        live = await _until(page, "c.state === 'live' && c.recording")
        await expect(page.locator(".recording")).to_be_visible()  # the badge, before the notice is heard
        assert live["recording"] is True

        answered = await _until(page, "c.clears >= 1")
        assert answered["framesSent"] > 0 and answered["framesPlayed"] > 0 and answered["marksEchoed"] > 0
        assert answered["framesDropped"] > 0  # the clear cut the answer's queued audio, not an ended one
        async with aiohttp.ClientSession() as http:
            count, seconds = await _barge_in_seconds(port, http)
        assert count >= 1 and seconds / count <= 0.05, (count, seconds)

        await page.wait_for_timeout(1500)  # the interruption confirmed, the next answer under way
        await mic.click()  # hang up
        await _until(page, "c.state === 'idle'")
        for _ in range(300):
            ended = await pool.fetchval("SELECT ended_at FROM calls WHERE agent_id = $1", agent_id)
            if ended is not None:
                break
            await asyncio.sleep(0.02)
        rows = await pool.fetch("SELECT t.role, t.text, t.interrupted FROM call_turns t JOIN calls c ON c.id = t.call_id"
                                " WHERE c.agent_id = $1 AND c.channel = 'web' ORDER BY t.seq", agent_id)
        said = [(r["role"], r["text"], r["interrupted"]) for r in rows]
        assert said[0] == ("assistant", f"{NOTICE} Hello.", False), said
        assert said[1] == ("user", "What are your opening hours?", False), said
        first = said[2]
        assert first[0] == "assistant" and first[2] is True, said  # the call's first answer was interrupted
        assert first[1] and LONG_REPLY.startswith(first[1]) and len(first[1]) < len(LONG_REPLY), said
    finally:
        await deepgram.close()
        await openai.close()


async def test_the_bubble_on_another_sites_page_calls_from_its_mic_and_links_to_the_hosted_page(
        speaking_browser: Browser, make_settings: MakeSettings, pool: asyncpg.Pool, aiohttp_client: Any) -> None:
    """The cross-origin path: the voice client and its worklet module fetched from the server by a page of
    another origin, the token's response readable there, the socket accepted from it. This page asks for
    8 kHz μ-law (data-voice-format), so the client's own μ-law coding carries the question both ways."""
    deepgram = FakeDeepgram(speak_bytes_per_char=200)
    openai = FakeOpenAi()
    port, site_port = free_port(), free_port()
    settings = make_settings(PUBLIC_URL=f"http://127.0.0.1:{port}", DEEPGRAM_API_KEY="test-key",
                             DEEPGRAM_BASE_URL=await deepgram.start(), OPENAI_API_KEY="test-key",
                             OPENAI_BASE_URL=await openai.start())
    site = f"http://127.0.0.1:{site_port}"
    business_id = await tenants.create_business(pool, "Demo Dental")
    agent_id = await agents.create_agent(pool, business_id, "Reception", greeting="Hello there, welcome to Demo Dental.",
                                         allowed_origins=[site])
    await pool.execute("UPDATE agents SET channels = $2 WHERE id = $1", agent_id,
                       {"widget": {"voiceEnabled": True, "messengerEnabled": True}})
    await fund_wallet(pool, business_id)
    deepgram.state.say("What are your opening hours?")
    openai.state.script("We open at nine.")
    page_html = (f"<!doctype html><html><body><h1>Clinic</h1><script src='http://127.0.0.1:{port}/api/widget/"
                 f"{agent_id}/script.js' data-auto-open='1' data-voice-format='mulaw'></script></body></html>")

    async def home(_: web.Request) -> web.Response:
        return web.Response(text=page_html, content_type="text/html")

    site_app = web.Application()
    site_app.router.add_get("/", home)
    try:
        await aiohttp_client(make_app(settings), server_kwargs={"port": port})
        await aiohttp_client(site_app, server_kwargs={"port": site_port})
        page = await speaking_browser.new_page()
        await page.goto(site + "/")
        popout = page.locator("header a.popout")
        await expect(popout).to_have_attribute("href", f"http://127.0.0.1:{port}/m/{agent_id}?autoOpen=1")
        mic = page.locator("button.mic")
        await expect(mic).to_be_enabled()
        await mic.click()
        heard = await _until(page, "c.state === 'live' && c.framesPlayed > 10 && c.marksEchoed > 0")
        assert heard["recording"] is False and heard["framesSent"] > 0
        await expect(page.locator(".recording")).to_be_hidden()
        call = await pool.fetchrow("SELECT c.id, c.channel, t.origin FROM calls c"
                                   " JOIN web_call_tokens t ON t.call_id = c.id WHERE c.agent_id = $1", agent_id)
        assert (call["channel"], call["origin"]) == ("web", site)
        for _ in range(300):  # the question (2.5 s into the microphone's audio) heard, then answered
            answered = await pool.fetchval("SELECT count(*) FROM call_turns WHERE call_id = $1 AND role = 'assistant'"
                                           " AND text = 'We open at nine.'", call["id"])
            if answered:
                break
            await asyncio.sleep(0.05)
        assert answered == 1
        assert (await _counters(page))["state"] == "live"
        await mic.click()
        await _until(page, "c.state === 'idle'")
    finally:
        await deepgram.close()
        await openai.close()
