"""The agent's replies, one heard at a time: started as tasks, produced through the LLM and TTS
stages, followed by their marks, and filed by what the caller heard.

Each reply runs as one task: a producer (a fixed text split into sentences, or
:class:`LlmStage` consuming the LLM stream) hands sentences to :class:`SpeechAhead`, which has
:class:`TtsStage` synthesise each one (the next while this one streams) and speak them in
order. The task's body is the session's coroutine (it waits for the reply it follows and
tells the control loop when it is done); the syntheses are the reply's, cancelled and awaited
inside it, so no task outlives the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeAlias

from media.audio.g711 import FRAME_BYTES
from media.llm.base import Message
from media.pipeline.dialogue import Dialogue
from media.pipeline.llm_stage import LlmStage
from media.pipeline.outbound import Outbound
from media.pipeline.playout import Playout
from media.pipeline.reply import CONVERSATION_KINDS, Reply
from media.pipeline.speech_ahead import SpeechAhead
from media.pipeline.tool_turns import ToolTurns
from media.pipeline.tts_stage import TtsStage
from media.text.sentences import split_sentences

_FRAME_MS: Final = FRAME_BYTES // 8

ReplyTask: TypeAlias = Callable[[Reply, str | None, list[Message] | None, asyncio.Task[None] | None],
                                Coroutine[Any, Any, None]]
"""The body of a reply's task: ``(reply, text, messages, after)``; it calls :meth:`Replies.produce`."""


class Replies:
    """The reply the caller is hearing (at most one) and every reply task still running.

    Args:
        mark_every: frames between progress marks.
        llm: writes answers.
        tts: speaks sentences.
        wire: the call's outbound stream.
        dialogue: where finished replies are filed.
        run: the body of each reply's task.
        tools: runs the agent's tools an answer calls (None: the call offers only its own tools).
    """

    __slots__ = ("current", "_mark_every", "_llm", "_tts", "_wire", "_dialogue", "_run", "_count", "_tasks", "_tools")

    def __init__(self, *, mark_every: int, llm: LlmStage, tts: TtsStage, wire: Outbound, dialogue: Dialogue,
                 run: ReplyTask, tools: ToolTurns | None = None) -> None:
        self._tools = tools
        self.current: Reply | None = None
        """The reply being produced or heard; None while the caller has the floor."""
        self._mark_every = mark_every
        self._llm = llm
        self._tts = tts
        self._wire = wire
        self._dialogue = dialogue
        self._run = run
        self._count = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, kind: str, *, text: str | None = None, messages: list[Message] | None = None,
              after: asyncio.Task[None] | None = None) -> Reply:
        """Start a reply and make it the current one.

        Args:
            kind: ``greeting``, ``answer`` or ``goodbye``.
            text: a fixed text to say (when ``messages`` is None).
            messages: the LLM request that writes the reply.
            after: a reply task to wait for first (its last sentence is still playing).
        """
        self._count += 1
        reply = Reply(id=self._count, kind=kind, playout=Playout(self._count, self._mark_every),
                      interruptible=kind in CONVERSATION_KINDS)
        reply.task = asyncio.create_task(self._run(reply, text, messages, after))
        self._tasks.add(reply.task)
        reply.task.add_done_callback(self._tasks.discard)
        self.current = reply
        return reply

    async def produce(self, reply: Reply, text: str | None, messages: list[Message] | None) -> None:
        """Sentences (fixed, or from the LLM) → TTS → frames and marks, until all audio is sent."""
        sentences = SpeechAhead(reply, self._tts)
        try:
            if messages is None:
                for sentence in split_sentences(text or ""):
                    await sentences.put(sentence)
            else:
                said = await self._llm.think(reply, messages, sentences)
                if self._tools is not None and said is not None:
                    await self._tools.follow(reply, messages, said, sentences)
            await sentences.put(None)
            await sentences.played()
        finally:
            await sentences.close()

    def interruptible(self) -> bool:
        """The caller may barge in on the current reply."""
        reply = self.current
        return reply is not None and reply.interruptible and not reply.playout.played_out

    def mark_played(self, name: str, media_ms: int) -> Reply | None:
        """Twilio echoed a mark; the current reply when the caller has now heard all of it.

        The first mark heard of a reply gives its at-the-ear latency: the caller's speech end
        to the moment playback reached the reply's first frame, on the stream's clock.
        """
        reply = self.current
        if reply is None:
            return None
        first = not reply.playout.first_heard
        if not reply.playout.played(name):
            return None
        if first and reply.speech_end_ms is not None:
            reply.ear_latency_ms = media_ms - reply.speech_end_ms - _FRAME_MS
        return reply if reply.playout.played_out and reply.done else None

    def generated(self, reply_id: int) -> Reply | None:
        """A reply's task finished; the reply when it is still the current one."""
        reply = self.current
        if reply is None or reply.id != reply_id:
            return None
        reply.done = True
        return reply

    def close(self, reply: Reply, *, interrupted: bool) -> None:
        """Move the reply into the dialogue (what was heard) and off the floor."""
        self._dialogue.agent_said(reply, interrupted=interrupted)
        if self.current is reply:
            self.current = None

    async def end_with_heard_sentence(self, reply: Reply) -> asyncio.Task[None] | None:
        """Stop the reply after the sentence the caller is hearing, which plays to its end.

        Returns:
            The reply's task, for what is said next to wait for.
        """
        reply.stop_after_sentence = True
        reply.interruptible = False
        if reply.playout.sent_past_heard_sentence() and reply.task is not None:
            # Later sentences already sit in Twilio's buffer: stop producing, clear, resend the heard one.
            reply.task.cancel()
            await asyncio.gather(reply.task, return_exceptions=True)
            self._wire.clear()
            self._wire.burst(reply.playout.cut_after_heard_sentence())
        task = reply.task
        self.close(reply, interrupted=True)
        return task

    async def cancel_stray(self) -> None:
        """Replies superseded by a goodbye may still be finishing their sentence: stop them too."""
        stray = [t for t in self._tasks if not t.done()]
        for task in stray:
            task.cancel()
        await asyncio.gather(*stray, return_exceptions=True)
