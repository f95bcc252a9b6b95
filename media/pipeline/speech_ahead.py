"""One reply's sentences on their way to speech: each synthesised as soon as it is complete, up to
:data:`SENTENCES_AHEAD` ahead of the one being spoken, and played in order.

Hosted TTS streams at about real time (Aura: the first byte after ~200 ms, then audio as fast
as it plays). Asking for a sentence only once the previous one's audio had all arrived left
that first-byte wait as silence at every sentence boundary. Here the next sentence's request
starts while the current one still streams; its frames wait in a bounded buffer and join the
playout the moment the current sentence ends, so the playout (marks, heard words, barge-in)
still sees one sentence at a time, in order.

The sentence being spoken sends its frames to the wire from its own synthesis task as they
arrive, with no hand-off between tasks, so a reply's first frame leaves as early as before.
Every synthesis task belongs to the reply's task: :meth:`SpeechAhead.close` cancels and awaits
them (a barge-in, a cut, the call's end), which closes their HTTP requests.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

from media.pipeline.reply import Reply
from media.pipeline.tts_stage import TtsStage

SENTENCES_AHEAD: Final = 1
"""Sentences synthesised beyond the one being spoken. One covers the first-byte wait whenever
the sentence being spoken lasts longer than that wait; more would only hold more audio the
caller may never hear (a barge-in drops it)."""

_BUFFER_FRAMES: Final = 1500
"""Frames (30 s) a sentence synthesised ahead may hold before its stream waits to be spoken."""


class _Synthesis:
    """One sentence's synthesis: its frames go to the wire once it is spoken, to its buffer before."""

    __slots__ = ("text", "frames", "speaking", "finished", "room", "_ahead")

    def __init__(self, text: str, ahead: SpeechAhead) -> None:
        self.text = text
        self.frames: list[bytes] = []
        self.speaking = False
        self.finished = False
        self.room = asyncio.Event()
        """Set once the sentence is spoken: its buffer no longer fills."""
        self._ahead = ahead

    async def take(self, frames: list[bytes]) -> None:
        """Frames of one TTS chunk: sent now while spoken (no suspension), else buffered (bounded)."""
        if self.speaking:
            self._ahead.send(frames)
            return
        self.frames.extend(frames)
        if len(self.frames) >= _BUFFER_FRAMES:
            await self.room.wait()


class SpeechAhead:
    """The sentences of one reply, from text to the wire; :meth:`put` them, then await :meth:`played`.

    Args:
        reply: the reply being spoken.
        stage: synthesises each sentence and puts its frames and marks on the wire.
    """

    __slots__ = ("_reply", "_stage", "_backlog", "_started", "_tasks", "_closed", "_played")

    def __init__(self, reply: Reply, stage: TtsStage) -> None:
        self._reply = reply
        self._stage = stage
        self._backlog: deque[str] = deque()
        self._started: deque[_Synthesis] = deque()
        """Sentences being synthesised or buffered, in order; the first is being spoken."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._played: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def put(self, sentence: str | None) -> None:
        """The next sentence (None: there are no more); its synthesis starts when a slot is free.

        Never waits, so the LLM stream is read on while the sentences are spoken.
        """
        if sentence is None:
            self._closed = True
        else:
            self._backlog.append(sentence)
        self._fill()

    async def played(self) -> None:
        """Wait until every sentence's audio and the reply's end mark are on the wire."""
        await self._played

    async def close(self) -> None:
        """Cancel every synthesis still running and wait for it (its HTTP request is closed)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def send(self, frames: list[bytes]) -> None:
        """Frames of the sentence being spoken, onto the wire."""
        self._stage.send(self._reply, frames)

    def _fill(self) -> None:
        """Start synthesising backlogged sentences while slots are free; end the reply when all is said."""
        while self._backlog and len(self._started) <= SENTENCES_AHEAD:
            text = self._backlog.popleft()
            if self._stopping():
                continue
            synthesis = _Synthesis(text, self)
            self._started.append(synthesis)
            if len(self._started) == 1:
                self._speak(synthesis)
            task = asyncio.get_running_loop().create_task(self._synthesize(synthesis))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._closed and not self._started and not self._played.done():
            self._stage.finish(self._reply)
            self._played.set_result(None)

    async def _synthesize(self, synthesis: _Synthesis) -> None:
        try:
            await self._stage.synthesize(synthesis.text, synthesis)
        except Exception as exc:  # a fault of ours, not of TTS (the stage answers those): the reply fails
            if not self._played.done():
                self._played.set_exception(exc)
            return
        synthesis.finished = True
        if synthesis.speaking:
            self._advance()

    def _advance(self) -> None:
        """The sentence being spoken has all its audio: end it, speak the next, start more."""
        while self._started and self._started[0].finished:
            self._started.popleft()
            self._stage.end_sentence(self._reply)
            if self._stopping():
                self._drop_ahead()
            elif self._started:
                self._speak(self._started[0])
        self._fill()

    def _speak(self, synthesis: _Synthesis) -> None:
        """Make ``synthesis`` the sentence being spoken: its buffered frames go out at once."""
        self._reply.playout.start_sentence(synthesis.text)
        synthesis.speaking = True
        synthesis.room.set()
        if synthesis.frames:
            frames, synthesis.frames = synthesis.frames, []
            self.send(frames)

    def _stopping(self) -> bool:
        """The reply ends with the sentence being heard (the caller asked for a transfer or a goodbye)."""
        return self._reply.stop_after_sentence and bool(self._reply.playout.full_text())

    def _drop_ahead(self) -> None:
        """No sentence after the one just ended will be spoken: stop their synthesis."""
        for synthesis in self._started:
            synthesis.room.set()
        self._started.clear()
        self._backlog.clear()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
