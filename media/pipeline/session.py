"""One live call: caller audio → STT → turns → LLM → sentences → TTS → Twilio, composed from the parts that own each step.

The socket reader calls :meth:`CallSession.media` per 20 ms frame (the whole hot path). Every
other input is an event on one queue that :meth:`CallSession.run` routes to its owner, so the
call's state is touched by one task only: turns and barge-in (``turn_taking``), replies and
their marks (``replies``; the LLM stream in ``llm_stage``, each sentence's synthesis in
``tts_stage``), and the end of the call (``call_ending``). Every task of a call runs a
coroutine of this class (the STT reader, each reply), so it starts them all and cancels
them all at teardown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

import structlog

from media.call_records import CallRecorder
from media.llm.base import LlmProvider, Message
from media.pipeline.call_ending import CallCarrier, CallEnding
from media.pipeline.caller_audio import CallerAudio
from media.pipeline.dialogue import Dialogue
from media.pipeline.faults import CallFaults
from media.pipeline.frames import EndRequested, KeyPressed, MarkPlayed, ReplyDone, SessionEvent, TimerFired, TimerKind
from media.pipeline.grounding import CallGrounding
from media.pipeline.hooks import CallHooks, CallInfo, CallOutcome
from media.pipeline.lifecycle import CallLifecycle, CallState, EndReason
from media.pipeline.llm_stage import LlmStage
from media.pipeline.outbound import Outbound, TwilioLink
from media.pipeline.prompt import AgentProfile, conversation
from media.pipeline.replies import Replies
from media.pipeline.reply import Reply
from media.pipeline.settings import CallSettings
from media.pipeline.speech_cache import SpeechCache
from media.pipeline.telemetry import CallMetrics, NoMetrics
from media.pipeline.timers import Timers
from media.pipeline.tool_turns import CallTools, ToolTurns
from media.pipeline.tts_stage import TtsStage
from media.pipeline.turn_taking import CallerTurn, TurnTaking
from media.recording.call_recording import CallRecording
from media.stt.base import SpeechStarted, SttError, SttProvider, SttSession, SttUnavailable, Transcript, UtteranceEnd
from media.tts.base import TtsProvider

__all__ = ["CallCarrier", "CallSession", "CallSettings", "TwilioLink"]

log = structlog.get_logger(__name__)

_EVENT_BACKLOG: Final = 1024


class CallSession:
    """The conversation of one call; create it when the stream's ``start`` checked out.

    Args:
        info: the call's identity.
        profile: the answering agent.
        settings: barge-in, timeouts and spoken texts.
        stt: the process's STT provider.
        llm: the process's LLM provider.
        tts: the process's TTS provider.
        fallback_tts: speaks a sentence ``tts`` failed on twice (None: no fallback).
        link: the Twilio media socket.
        stream_sid: the ``streamSid`` from ``start``.
        hooks: observers (metering, metrics).
        recorder: writes turns and the call's end (None in unit tests without a database).
        carrier: for transfers and hang-ups through the REST API (None when not configured).
        metrics: where per-turn latencies, barge-ins and provider errors are reported.
        grounding: searches the agent's knowledge for each answer (None: answers without excerpts).
        recording: records both sides as heard (None: the call isn't recorded).
        encode_audio: converts each outbound μ-law frame to the stream's format (a browser's L16).
        tools: the agent's tools beyond ending and transferring the call (None: only those).
        speech_cache: fixed texts kept synthesised (the tool filler), shared by the process's calls.
        binary_media: the agent's frames go out as binary messages (a browser that asked for them).
    """

    def __init__(self, *, info: CallInfo, profile: AgentProfile, settings: CallSettings, stt: SttProvider,
                 llm: LlmProvider, tts: TtsProvider, link: TwilioLink, stream_sid: str, hooks: CallHooks,
                 recorder: CallRecorder | None = None, carrier: CallCarrier | None = None,
                 metrics: CallMetrics | None = None, fallback_tts: TtsProvider | None = None,
                 grounding: CallGrounding | None = None, recording: CallRecording | None = None,
                 encode_audio: Callable[[bytes], bytes] | None = None, tools: CallTools | None = None,
                 speech_cache: SpeechCache | None = None, binary_media: bool = False) -> None:
        self._info = info
        self._recording = recording
        self._grounding = grounding
        self._profile = profile
        self._settings = settings
        self._stt_provider = stt
        self._hooks = hooks
        self._metrics: CallMetrics = metrics if metrics is not None else NoMetrics()
        self._faults = CallFaults(self._metrics, recorder)
        self._events: asyncio.Queue[SessionEvent] = asyncio.Queue(_EVENT_BACKLOG)
        self._loop = loop = asyncio.get_running_loop()
        self._started = loop.time()
        self._outcome: asyncio.Future[CallOutcome] = loop.create_future()
        self._stt_pump: asyncio.Task[None] | None = None
        self._next_turn_ends: EndRequested | None = None
        self._lifecycle = CallLifecycle()
        self._audio = CallerAudio()
        self._timers = Timers(loop, self._post)
        self._dialogue = Dialogue(recorder)
        wire = self._wire = Outbound(link, stream_sid, lambda: self.request_end(EndReason.STREAM_STOPPED), recording,
                                     encode_audio, binary_media)
        thinking = LlmStage(llm, profile, settings.apology_text, settings.llm_first_token_timeout, self._faults, loop)
        self._tts = TtsStage(tts, profile.voice, fallback_tts, wire, self._metrics, self._faults, loop, speech_cache)
        self._tools = None if tools is None else ToolTurns(tools, settings, thinking, self._dialogue, loop,
                                                           self._tts.warm)
        if self._tools is not None:
            thinking.tools = self._tools.definitions()
        self._replies = Replies(
            mark_every=settings.mark_every_frames, wire=wire, dialogue=self._dialogue, run=self._generate,
            llm=thinking, tts=self._tts, tools=self._tools)
        self._turns = TurnTaking(settings=settings, lifecycle=self._lifecycle, replies=self._replies, wire=wire,
                                 timers=self._timers, metrics=self._metrics, loop=loop, on_turn=self._answer)
        self._ending = CallEnding(call_sid=info.call_sid, profile=profile, settings=settings,
                                  lifecycle=self._lifecycle, timers=self._timers, replies=self._replies,
                                  turns=self._turns, dialogue=self._dialogue, carrier=carrier)

    # -- CallControl -------------------------------------------------------------------------

    @property
    def info(self) -> CallInfo:
        """The call's identity."""
        return self._info

    def elapsed(self) -> float:
        """Seconds since the stream started."""
        return self._loop.time() - self._started

    def request_end(self, reason: EndReason, *, goodbye: str | None = None) -> None:
        """End the call (see :class:`media.pipeline.hooks.CallControl`); safe from any task."""
        self._post(EndRequested(reason, goodbye))

    def end_at_next_turn(self, reason: EndReason, *, goodbye: str) -> None:
        """Answer the caller's next turn with ``goodbye`` and end (see :class:`media.pipeline.hooks.CallControl`)."""
        self._next_turn_ends = EndRequested(reason, goodbye)

    async def wait_ended(self) -> CallOutcome:
        """Wait until the call is over and every task of it is gone."""
        return await asyncio.shield(self._outcome)

    @property
    def history(self) -> list[Message]:
        """The conversation as the LLM sees it (user and assistant turns, what was heard)."""
        return self._dialogue.history

    # -- inbound from the Twilio socket --------------------------------------------------------

    def media(self, payload: bytes, timestamp_ms: int) -> None:
        """One inbound audio frame (the hot path: no allocation, logging or I/O here)."""
        self._audio.push(payload, timestamp_ms)
        if self._recording is not None:
            self._recording.caller(payload, timestamp_ms)

    def mark(self, name: str) -> None:
        """Twilio echoed a mark."""
        self._post(MarkPlayed(name))

    def dtmf(self, digit: str) -> None:
        """The caller pressed a key."""
        self._post(KeyPressed(digit))

    def _post(self, event: SessionEvent) -> None:
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            log.error("call_event_backlog", dropped=type(event).__name__)

    # -- the control loop --------------------------------------------------------------------

    async def run(self) -> CallOutcome:
        """Run the call until it ends; every task and provider connection is closed on return."""
        reason = EndReason.PROTOCOL_ERROR
        try:
            self._lifecycle.activate()
            if self._profile.greeting:
                # Greet first: its TTS request runs while the STT connection and the observers start.
                self._replies.start("greeting", text=self._profile.greeting)
            await self._open_stt()
            self._arm_watchdog()
            self._timers.post_later(self._settings.max_call_seconds,
                                    EndRequested(EndReason.MAX_DURATION, self._settings.goodbye_text))
            await self._hooks.call_started(self)
            while self._lifecycle.state is not CallState.ENDED:
                await self._handle(await self._events.get())
            reason = self._lifecycle.reason or reason
        finally:
            outcome = CallOutcome(reason=self._lifecycle.reason or reason, duration_seconds=self.elapsed())
            await self._teardown(outcome)
            if not self._outcome.done():
                self._outcome.set_result(outcome)
        return outcome

    async def _open_stt(self) -> None:
        phrases = [e.question for e in self._profile.faq]
        try:
            stt = await self._stt_provider.open_session(self._profile.language, phrases=phrases)
        except SttUnavailable as exc:
            self._faults.report("stt", "unavailable", str(exc))
            await self._ending.cannot_hear()
            return
        self._audio.attach(stt)
        self._stt_pump = asyncio.create_task(self._pump_stt(stt))

    async def _pump_stt(self, session: SttSession) -> None:
        async for event in session:
            if type(event) is SpeechStarted:
                self._turns.speech_heard()
            self._post(event)

    async def _handle(self, event: SessionEvent) -> None:
        if isinstance(event, MarkPlayed):
            heard = self._replies.mark_played(event.name, self._audio.media_ms)
            if heard is not None:
                await self._ending.reply_heard(heard)
        elif isinstance(event, Transcript):
            self._turns.on_transcript(event)
        elif isinstance(event, SpeechStarted):
            self._turns.on_speech_started()
        elif isinstance(event, UtteranceEnd):
            self._turns.on_utterance_end(event)
        elif isinstance(event, ReplyDone):
            await self._on_reply_done(event.reply_id)
        elif isinstance(event, TimerFired):
            await self._on_timer(event)
        elif isinstance(event, KeyPressed):
            self._turns.on_key(event.digit)
        elif isinstance(event, EndRequested):
            await self._ending.end(event.reason, event.goodbye)
        elif isinstance(event, SttError):
            await self._on_stt_error(event)

    # -- composing the parts ---------------------------------------------------------------------

    async def _generate(self, reply: Reply, text: str | None, messages: list[Message] | None,
                        after: asyncio.Task[None] | None) -> None:
        """A reply's task: wait for the reply it follows, produce this one, tell the loop it is done."""
        try:
            if after is not None:
                await asyncio.wait([after])
            if messages is not None and self._grounding is not None:
                messages = await self._grounding.ground(messages)
            await self._replies.produce(reply, text, messages)
        finally:
            self._post(ReplyDone(reply.id))

    def _answer(self, turn: CallerTurn) -> None:
        """The caller's turn ended: file it and start the answer, whose latencies count from now (or, once
        the call may not ask the model any more, say the goodbye it was given and end)."""
        self._dialogue.caller_said(turn.text, turn.started)
        if self._next_turn_ends is not None:
            self._post(self._next_turn_ends)
            return
        reply = self._replies.start("answer", messages=conversation(self._profile, self._dialogue.history))
        reply.turn_end_at = self._loop.time()
        if turn.speech_end_s is not None:
            reply.speech_end_ms = self._audio.speech_end_ms(turn.speech_end_s)

    async def _on_reply_done(self, reply_id: int) -> None:
        reply = self._replies.generated(reply_id)
        if reply is None:
            return
        await self._ending.follow_tools(reply)
        if reply.playout.played_out:
            await self._ending.reply_heard(reply)

    async def _on_stt_error(self, event: SttError) -> None:
        self._faults.report("stt", "dropped" if event.recoverable else "failed", event.message)
        if event.recoverable:
            self._turns.on_stt_dropped()
        else:
            await self._ending.cannot_hear()

    async def _on_timer(self, event: TimerFired) -> None:
        kind = event.kind
        self._timers.fired(kind)
        if kind is TimerKind.FALSE_INTERRUPTION:
            self._turns.on_false_interruption(event.reply_id)
        elif kind is TimerKind.KEYPAD:
            self._turns.on_keypad_pause()
        elif kind is TimerKind.GOODBYE:
            await self._ending.goodbye_played()
        elif kind is TimerKind.MEDIA_WATCHDOG:
            if self._audio.silent_since_checkpoint():
                await self._ending.end(EndReason.MEDIA_TIMEOUT, None)
            else:
                self._arm_watchdog()

    @staticmethod
    async def _close_recording(recording: CallRecording) -> None:
        """Finish the file and its row; a failure is logged and the teardown goes on."""
        try:
            await recording.close()
        except Exception:
            log.exception("call_recording_close_failed")

    def _arm_watchdog(self) -> None:
        self._audio.checkpoint()
        self._timers.set(TimerKind.MEDIA_WATCHDOG, self._settings.media_timeout)

    async def _teardown(self, outcome: CallOutcome) -> None:
        """Cancel every task, close the STT connection, write the records, tell observers, close the socket."""
        self._lifecycle.request_end(outcome.reason, graceful=False)
        self._timers.cancel_all()
        reply = self._replies.current
        tasks = [t for t in (reply.task if reply else None, self._stt_pump) if t is not None]
        for task in tasks:
            task.cancel()
        if reply is not None:
            self._replies.close(reply, interrupted=not reply.playout.played_out)
        await self._audio.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._replies.cancel_stray()
        if self._tools is not None:
            await self._tools.close()
        started = time.monotonic()
        if self._recording is not None:
            await self._close_recording(self._recording)
        await self._dialogue.close(end_reason=outcome.reason.value, duration_seconds=outcome.duration_seconds,
                                   transferred_to=self._ending.transferred_to)
        await self._hooks.call_ended(self, outcome)
        await self._wire.close()
        log.info("call_ended", reason=outcome.reason.value, duration_s=round(outcome.duration_seconds, 2),
                 barge_ins=self._turns.barge_ins, teardown_ms=round((time.monotonic() - started) * 1000, 1))
