"""The mic button's AudioWorklet processors (static/voice.js), driven block by block in headless Chromium.

The page stands in for the worklet scope (``registerProcessor``, ``AudioWorkletProcessor`` with a
port that keeps what is posted, a 48 kHz ``sampleRate``), loads voice.js, and calls each
processor's ``process`` with 128-sample render quanta, so playback time is counted exactly.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser

from agent_server.routes.widget import STATIC
from tests.messaging.test_widget_browser import browser

__all__ = ["browser"]

SCOPE = """
window.sampleRate = 48000;
window.AudioWorkletProcessor = class {
  constructor() { this.port = { posted: [], postMessage(m) { this.posted.push(m); }, onmessage: null }; }
};
window.registerProcessor = (name, cls) => { (window.processors = window.processors || {})[name] = cls; };
"""

PLAYBACK = """
() => {
  const wire = { rate: 16000, mulaw: false, jitterMs: 60 };
  const play = new window.processors["agent-playback"]({ processorOptions: wire });
  const frame = () => new Float32Array(320).fill(0.5);
  const send = (m) => play.port.onmessage({ data: m });
  const render = (quanta) => {
    const heard = [];
    for (let i = 0; i < quanta; i += 1) {
      const out = [[new Float32Array(128)]];
      play.process([], out);
      heard.push(out[0][0].some((v) => v !== 0));
    }
    return heard;
  };
  const marks = () => play.port.posted.flatMap((m) => m.marks);
  send({ frame: frame() }); send({ mark: "one" }); send({ frame: frame() });
  const waiting = render(22);           /* 40 ms queued: held until 60 ms have passed */
  const started = render(2);
  const beforeFirst = marks().slice();
  render(8);                            /* 320 wire samples = 960 output samples = 7.5 quanta */
  const afterFirst = marks().slice();
  send({ frame: frame() }); send({ mark: "two" }); send({ frame: frame() }); send({ mark: "three" });
  send({ clear: true });
  const cleared = play.port.posted[play.port.posted.length - 1];
  const silentAfterClear = render(4).every((v) => !v);
  send({ frame: frame() }); send({ frame: frame() }); send({ frame: frame() });
  const full = render(1);               /* 60 ms queued: plays at once */
  return { waiting, started, beforeFirst, afterFirst, cleared, silentAfterClear, full };
}
"""

CAPTURE = """
() => {
  const capture = new window.processors["agent-capture"]({ processorOptions: { rate: 16000, mulaw: false } });
  const mulaw = new window.processors["agent-capture"]({ processorOptions: { rate: 8000, mulaw: true } });
  for (let i = 0; i < 15; i += 1) {    /* 1,920 samples at 48 kHz: 40 ms */
    const block = new Float32Array(128).map((_, j) => ((i * 128 + j) % 3 === 0 ? 0.3 : 0.0));
    capture.process([[block]]);
    mulaw.process([[new Float32Array(128)]]);
  }
  const frames = capture.port.posted.map((b) => Array.from(new Int16Array(b)));
  const codes = mulaw.port.posted.map((b) => Array.from(new Uint8Array(b)));
  window.sampleRate = 44100;  /* a context at 44.1 kHz: one second in, 50 frames out, no drift */
  const odd = new window.processors["agent-capture"]({ processorOptions: { rate: 16000, mulaw: false } });
  for (let i = 0; i < 345; i += 1) odd.process([[new Float32Array(128)]]);
  window.sampleRate = 48000;
  return { frames, codes, second: odd.port.posted.length };
}
"""


async def _scope(browser: Browser) -> Any:
    page = await browser.new_page()
    await page.set_content("<!doctype html><html><body></body></html>")
    await page.add_script_tag(content=SCOPE)
    await page.add_script_tag(content=(STATIC / "voice.js").read_text())
    return page


async def test_playback_holds_60_ms_echoes_a_mark_once_its_audio_played_and_a_clear_echoes_the_pending_ones(
        browser: Browser) -> None:
    page = await _scope(browser)
    result = await page.evaluate(PLAYBACK)
    assert not any(result["waiting"]) and all(result["started"])  # the jitter buffer: 22 quanta of 128 = 58.7 ms
    assert result["beforeFirst"] == [] and result["afterFirst"] == ["one"]
    assert result["cleared"] == {"marks": ["two", "three"], "played": 0, "dropped": 3}  # the rest of frame 2 too
    assert result["silentAfterClear"] and result["full"] == [True]


async def test_capture_sends_20_ms_frames_at_the_wire_rate_averaged_down(browser: Browser) -> None:
    page = await _scope(browser)
    result = await page.evaluate(CAPTURE)
    assert [len(f) for f in result["frames"]] == [320, 320]  # 40 ms of 48 kHz: two 20 ms frames of 16 kHz
    assert set(result["frames"][0]) == {int(0.1 * 32767)}  # each three 48 kHz samples (0.3, 0, 0) averaged
    assert [len(c) for c in result["codes"]] == [160, 160] and set(result["codes"][0]) == {0xFF}  # mu-law silence
    assert result["second"] == 50  # 44,160 samples at 44.1 kHz: 16,021 at 16 kHz
