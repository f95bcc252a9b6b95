"""The bench's providers: fake Deepgram (live STT and Aura) and a fake OpenAI LLM on one port, at known delays.

One port for both, so the agent server (``DEEPGRAM_BASE_URL`` and ``OPENAI_BASE_URL``) and a
bare relay that takes one providers URL (the floor, ``/work/shared/bench/floor_relay.py``)
run on the same fakes. Two profiles of delays:

- ``quick``: the bench's historical figures (final transcript 50 ms, whole LLM reply at once
  after 100 ms, whole TTS body after 50 ms): cheap, and the figures of the README's older rows;
- ``provider``: as hosted providers stream (issue 17): the first LLM token after 300 ms, then
  one token every 20 ms; TTS first byte after 200 ms, the audio in chunks of 100 ms, sent as
  fast as the connection takes them. A wait on the next token shows up in the figures with
  this profile. (Chunks paced at real time, 100 ms apart, were tried: the server asks for a
  sentence's speech only when the one before has all arrived, so each sentence boundary
  then left the caller a gap of about 160 ms, with the simulator and the light caller alike.)

"Added latency" is the caller's response latency minus :attr:`Delays.response`, the
ideal these fakes allow: endpointing + final transcript + the first sentence's last token +
TTS first byte.
"""

from __future__ import annotations

import asyncio
import gc
import signal
from dataclasses import dataclass
from typing import Any, Final

import uvloop
from aiohttp import web

from media.text.sentences import split_sentences
from tests.fake_deepgram import FakeDeepgram
from tests.fake_http import serve_locally
from tests.fake_openai import FakeOpenAi, ScriptedReply, stream_tokens

API_KEY: Final = "fake"
"""Both fakes' key: what the floor relay sends, and what the server is given."""
ENDPOINTING: Final = 0.300
"""The fake Deepgram ends an utterance after this much silence (the listen URL's endpointing)."""
REPLY: Final = ("Our opening hours are nine to five on weekdays. On Saturdays we open from ten to two, "
                "and on Sundays we are closed.")
TRANSCRIPT: Final = "What are your opening hours on Saturday?"
SPEAK_BYTES_PER_CHAR: Final = 160


@dataclass(frozen=True)
class Delays:
    """What the fakes are told to wait, in seconds (TTS chunks in bytes of 8 kHz mu-law)."""

    final: float
    first_token: float
    tts_first_byte: float
    token_gap: float = 0.0
    tts_chunk_bytes: int = 1600

    @property
    def first_sentence(self) -> float:
        """When the reply's first sentence has been streamed: its last token's time after the request."""
        tokens = len(stream_tokens(split_sentences(REPLY)[0]))
        return self.first_token + (tokens - 1) * self.token_gap

    @property
    def response(self) -> float:
        """The ideal response latency at the caller: last speech frame → first agent frame."""
        return ENDPOINTING + self.final + self.first_sentence + self.tts_first_byte

    @property
    def inside(self) -> float:
        """The ideal of the server's own figure (turn end → first frame sent): LLM first sentence + TTS first byte."""
        return self.first_sentence + self.tts_first_byte

    def describe(self) -> str:
        return (f"endpointing {ENDPOINTING * 1000:.0f} ms + final {self.final * 1000:.0f} ms + first sentence's last "
                f"token {self.first_sentence * 1000:.0f} ms (first token {self.first_token * 1000:.0f} ms, then one "
                f"every {self.token_gap * 1000:.0f} ms) + TTS first byte {self.tts_first_byte * 1000:.0f} ms (in "
                f"{self.tts_chunk_bytes}-byte chunks) = ideal {self.response * 1000:.0f} ms")


PROFILES: Final = {
    "quick": Delays(final=0.05, first_token=0.10, tts_first_byte=0.05),
    "provider": Delays(final=0.0, first_token=0.30, tts_first_byte=0.20, token_gap=0.02, tts_chunk_bytes=800),
}


async def start_fakes(delays: Delays) -> tuple[web.AppRunner, str]:
    """Both fakes on one free port; returns the runner and the providers' base URL (OpenAI's is it + ``/v1``)."""
    deepgram = FakeDeepgram(api_key=API_KEY, final_delay=delays.final, speak_first_byte_delay=delays.tts_first_byte,
                            speak_bytes_per_char=SPEAK_BYTES_PER_CHAR, speak_chunk_bytes=delays.tts_chunk_bytes)
    deepgram.state.default_transcript = TRANSCRIPT
    openai = FakeOpenAi(api_key=API_KEY, first_token_delay=delays.first_token, token_delay=delays.token_gap)
    openai.state.default_reply = ScriptedReply(text=REPLY)
    app = web.Application()
    deepgram.add_routes(app)
    openai.add_routes(app)
    runner, port = await serve_locally(app)
    return runner, f"http://127.0.0.1:{port}"


def run_fakes(delays: Delays, conn: Any) -> None:
    """The fakes' process: serve until SIGTERM, after sending the base URL down ``conn``."""
    async def main() -> None:
        runner, url = await start_fakes(delays)
        conn.send(url)
        # A bench run is minutes long and the fakes keep little: without the cyclic GC their
        # pauses (50-80 ms were seen) cannot show up as the server's latency.
        gc.disable()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()

    # uvloop, as the server runs on: the default loop's selector and transport writes were a
    # third of the fakes' CPU, which shares a core with the load generator in bench/scale.py.
    uvloop.run(main())
