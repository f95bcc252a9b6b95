"""One live call: caller audio → STT → turns → LLM → sentences → TTS → Twilio, with barge-in and one lifecycle.

The Twilio socket's reader calls :meth:`CallSession.media` per 20 ms frame; that is the
whole hot path (hand the bytes to the STT session, count the frame). Everything else is an
event on one queue handled by :meth:`CallSession.run`, so the call's state is touched by
one task only. Each agent reply is one task (LLM → sentence chunker, and a TTS speaker
sending frames to Twilio as fast as TTS delivers them, ahead of playback); barge-in clears
Twilio's buffer, pauses the reply and either confirms (cancel it, keep what was heard) or
resumes it when the "interruption" brings no words.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

import structlog

from media.call_records import CallRecorder, TurnRecord
from media.audio.g711 import FRAME_BYTES, FrameChunker
from media.llm.base import LlmError, LlmProvider, Message, TextDelta, ToolCall
from media.pipeline import turns
from media.pipeline.frames import EndRequested, KeyPressed, MarkPlayed, ReplyDone, SessionEvent, TimerFired, TimerKind
from media.pipeline.hooks import CallHooks, CallInfo, CallOutcome
from media.pipeline.lifecycle import CallLifecycle, CallState, EndReason, Transition
from media.pipeline.playout import Playout, Send
from media.pipeline.prompt import CALL_TOOLS, END_CALL, TRANSFER_CALL, AgentProfile, conversation
from media.pipeline.telemetry import CallMetrics, NoMetrics, TurnTimings, error_kind
from media.protocol.twilio import OutboundStream
from media.stt.base import SpeechStarted, SttError, SttProvider, SttSession, SttUnavailable, Transcript, UtteranceEnd
from media.text.sentences import SentenceChunker, split_sentences
from media.tts.base import TtsError, TtsProvider

log = structlog.get_logger(__name__)

_FRAME_MS: Final = FRAME_BYTES // 8
_EVENT_BACKLOG: Final = 1024
_EARLY_AUDIO_FRAMES: Final = 250
"""Caller audio kept while the STT session opens (5 s): the STT clock starts at its first frame."""


@dataclass(frozen=True, slots=True)
class CallSettings:
    """Per-call behaviour (the ``[calls]`` config section in media's terms)."""

    barge_in_min_words: int = 1
    false_interruption_timeout: float = 1.0
    mark_every_frames: int = 10
    goodbye_text: str = "Thank you for calling. Goodbye!"
    transfer_text: str = "Please hold while I transfer you."
    apology_text: str = "Sorry, I had a problem there. Could you say that again?"
    max_call_seconds: float = 1800.0
    media_timeout: float = 15.0
    goodbye_timeout: float = 15.0
    dtmf_timeout: float = 2.0


class CallCarrier(Protocol):
    """The live-call control the session needs from the phone carrier."""

    async def end_call(self, call_sid: str) -> None: ...

    async def redirect_call(self, call_sid: str, twiml: str) -> None: ...


class TwilioLink(Protocol):
    """The media-stream socket as the session sees it: buffered sends, an explicit flush.

    ``send`` only queues (and raises ConnectionError once the socket is gone); ``flush``
    writes everything queued in one go. The session flushes where timing matters (a TTS
    chunk's frames, a mark, a ``clear``), so a burst of frames is one write.
    """

    def send(self, data: bytes) -> None: ...

    def flush(self) -> None: ...

    async def close(self) -> bool: ...


@dataclass(slots=True)
class _Reply:
    """One thing the agent says: the greeting, an answer, an apology, a goodbye."""

    id: int
    kind: str
    playout: Playout
    interruptible: bool
    task: asyncio.Task[None] | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    done: bool = False
    stop_after_sentence: bool = False
    turn_end_at: float | None = None
    llm_first_token_at: float | None = None
    tts_first_byte_at: float | None = None
    speech_end_ms: int | None = None
    server_latency_ms: int | None = None
    ear_latency_ms: int | None = None
    started_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))


class CallSession:
    """The conversation of one call; create it when the stream's ``start`` checked out.

    Args:
        info: the call's identity.
        profile: the answering agent.
        settings: barge-in, timeouts and spoken texts.
        stt: the process's STT provider.
        llm: the process's LLM provider.
        tts: the process's TTS provider.
        link: the Twilio media socket.
        stream_sid: the ``streamSid`` from ``start``.
        hooks: observers (metering, metrics).
        recorder: writes turns and the call's end (None in unit tests without a database).
        carrier: for transfers and hang-ups through the REST API (None when not configured).
        metrics: where per-turn latencies, barge-ins and provider errors are reported.
    """

    def __init__(self, *, info: CallInfo, profile: AgentProfile, settings: CallSettings, stt: SttProvider,
                 llm: LlmProvider, tts: TtsProvider, link: TwilioLink, stream_sid: str, hooks: CallHooks,
                 recorder: CallRecorder | None = None, carrier: CallCarrier | None = None,
                 metrics: CallMetrics | None = None) -> None:
        self._info = info
        self._profile = profile
        self._settings = settings
        self._stt_provider = stt
        self._llm = llm
        self._tts = tts
        self._link = link
        self._stream = OutboundStream(stream_sid)
        self._hooks = hooks
        self._recorder = recorder
        self._carrier = carrier
        self._metrics: CallMetrics = metrics if metrics is not None else NoMetrics()
        self._speech_heard_at: float | None = None
        self._events: asyncio.Queue[SessionEvent] = asyncio.Queue(_EVENT_BACKLOG)
        self._lifecycle = CallLifecycle()
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self._stt: SttSession | None = None
        self._stt_pump: asyncio.Task[None] | None = None
        self._history: list[Message] = []
        self._reply: _Reply | None = None
        self._replies = 0
        self._reply_tasks: set[asyncio.Task[None]] = set()
        self._barge: asyncio.TimerHandle | None = None
        self._barge_reply = 0
        self._caller_parts: list[str] = []
        self._interim = ""
        self._caller_started: datetime.datetime | None = None
        self._speech_end_s: float | None = None
        self._digits: list[str] = []
        self._timers: dict[TimerKind, asyncio.TimerHandle] = {}
        self._max_length: asyncio.TimerHandle | None = None
        self._frames = 0
        self._frames_at_check = -1
        self._first_media_ms: int | None = None
        self._early_audio: list[bytes] = []
        self._media_ms = 0
        self._after_goodbye: Callable[[], Awaitable[None]] | None = None
        self._transferred_to: str | None = None
        self._outcome: asyncio.Future[CallOutcome] = self._loop.create_future()
        self.barge_ins = 0

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

    async def wait_ended(self) -> CallOutcome:
        """Wait until the call is over and every task of it is gone."""
        return await asyncio.shield(self._outcome)

    @property
    def history(self) -> list[Message]:
        """The conversation as the LLM sees it (user and assistant turns, what was heard)."""
        return self._history

    # -- inbound from the Twilio socket --------------------------------------------------------

    def media(self, payload: bytes, timestamp_ms: int) -> None:
        """One inbound audio frame (the hot path: no allocation, logging or I/O here)."""
        self._frames += 1
        self._media_ms = timestamp_ms
        if self._stt is not None:
            self._stt.send_audio(payload)
            return
        if self._first_media_ms is None:
            self._first_media_ms = timestamp_ms
        if len(self._early_audio) < _EARLY_AUDIO_FRAMES:
            self._early_audio.append(payload)

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
                self._start_reply("greeting", text=self._profile.greeting)
            await self._open_stt()
            self._arm_watchdog()
            self._max_length = self._loop.call_later(
                self._settings.max_call_seconds, self._post,
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
            self._stt = await self._stt_provider.open_session(self._profile.language, phrases=phrases)
        except SttUnavailable as exc:
            log.error("stt_unavailable", error=str(exc))
            self._metrics.provider_error("stt", "unavailable")
            self.request_end(EndReason.STT_FAILED, goodbye=self._settings.apology_text)
            return
        for payload in self._early_audio:
            self._stt.send_audio(payload)
        self._early_audio = []
        self._stt_pump = asyncio.create_task(self._pump_stt(self._stt))

    async def _pump_stt(self, session: SttSession) -> None:
        async for event in session:
            if type(event) is SpeechStarted and self._speech_heard_at is None:
                self._speech_heard_at = self._loop.time()  # barge-in reaction is measured from here
            self._post(event)

    async def _handle(self, event: SessionEvent) -> None:
        if isinstance(event, MarkPlayed):
            await self._on_mark(event.name)
        elif isinstance(event, Transcript):
            self._on_transcript(event)
        elif isinstance(event, SpeechStarted):
            if self._interruptible() and self._barge is None:
                self._pause_for_barge_in()
            self._speech_heard_at = None
        elif isinstance(event, UtteranceEnd):
            if self._reply is None:
                self._speech_end_s = max(self._speech_end_s or 0.0, event.last_word_end)
                self._end_caller_turn()
        elif isinstance(event, ReplyDone):
            await self._on_reply_done(event.reply_id)
        elif isinstance(event, TimerFired):
            await self._on_timer(event)
        elif isinstance(event, KeyPressed):
            self._on_key(event.digit)
        elif isinstance(event, EndRequested):
            await self._end(event.reason, event.goodbye)
        elif isinstance(event, SttError):
            await self._on_stt_error(event)

    # -- the caller's turn ---------------------------------------------------------------------

    def _on_transcript(self, event: Transcript) -> None:
        text = event.text.strip()
        if text and self._interruptible():
            if turns.confirms_barge_in(text, self._settings.barge_in_min_words):
                if self._barge is None:
                    self._pause_for_barge_in()
                self._confirm_barge_in()
            elif event.is_final:
                return  # a backchannel while the agent talks: not a turn
        self._interim = "" if event.is_final else text
        if not event.is_final or not text:
            if event.speech_final and self._reply is None:
                self._end_caller_turn()
            return
        if self._caller_started is None:
            self._caller_started = datetime.datetime.now(datetime.UTC)
        self._caller_parts.append(text)
        self._speech_end_s = event.start + event.duration
        if event.speech_final and self._reply is None:
            self._end_caller_turn()

    async def _on_stt_error(self, event: SttError) -> None:
        """A dropped STT connection loses the words in flight: keep the last interim as the turn."""
        self._metrics.provider_error("stt", "dropped" if event.recoverable else "failed")
        if not event.recoverable:
            await self._end(EndReason.STT_FAILED, self._settings.apology_text)
            return
        if self._interim and self._reply is None:
            self._caller_parts.append(self._interim)
            self._end_caller_turn()
        self._interim = ""

    def _on_key(self, digit: str) -> None:
        self._digits.append(digit)
        if self._caller_started is None:
            self._caller_started = datetime.datetime.now(datetime.UTC)
        self._set_timer(TimerKind.KEYPAD, self._settings.dtmf_timeout)

    def _end_caller_turn(self) -> None:
        """The caller finished speaking: record the turn and start the answer."""
        text = turns.join_turn(self._caller_parts, self._digits)
        if not text or not self._lifecycle.accepting_turns:
            return
        self._cancel_timer(TimerKind.KEYPAD)
        started = self._caller_started or datetime.datetime.now(datetime.UTC)
        self._caller_parts, self._digits, self._caller_started = [], [], None
        self._history.append({"role": "user", "content": text})
        if self._recorder is not None:
            self._recorder.turn(TurnRecord("user", text, started))
        reply = self._start_reply("answer", messages=conversation(self._profile, self._history))
        reply.turn_end_at = self._loop.time()
        if self._speech_end_s is not None:
            reply.speech_end_ms = (self._first_media_ms or 0) + round(self._speech_end_s * 1000)
        self._speech_end_s = None

    # -- barge-in ------------------------------------------------------------------------------

    def _interruptible(self) -> bool:
        reply = self._reply
        return reply is not None and reply.interruptible and not reply.playout.played_out

    def _pause_for_barge_in(self) -> None:
        """Tentative barge-in: silence the agent at once, keep its reply ready to resume."""
        reply = self._reply
        assert reply is not None
        reply.playout.pause()
        self._send(self._stream.clear().encode())
        self._link.flush()
        self.barge_ins += 1
        now = self._loop.time()
        self._metrics.barge_in(now - (self._speech_heard_at or now))
        self._barge_reply = reply.id
        self._barge = self._loop.call_later(self._settings.false_interruption_timeout, self._post,
                                            TimerFired(TimerKind.FALSE_INTERRUPTION, reply.id))

    def _confirm_barge_in(self) -> None:
        """The caller really interrupted: stop the reply; history keeps only what was heard."""
        reply = self._reply
        assert reply is not None
        if self._barge is not None:
            self._barge.cancel()
            self._barge = None
        if reply.task is not None:
            reply.task.cancel()
        self._close_reply(reply, interrupted=True)

    def _resume_after_false_interruption(self, reply_id: int) -> None:
        reply = self._reply
        self._barge = None
        if reply is None or reply.id != reply_id or not reply.playout.paused:
            return
        self._send_all(reply.playout.resume())

    # -- replies -------------------------------------------------------------------------------

    def _start_reply(self, kind: str, *, text: str | None = None, messages: list[Message] | None = None,
                     after: asyncio.Task[None] | None = None) -> _Reply:
        self._replies += 1
        reply = _Reply(id=self._replies, kind=kind, playout=Playout(self._replies, self._settings.mark_every_frames),
                       interruptible=kind in ("greeting", "answer", "apology"))
        reply.task = asyncio.create_task(self._generate(reply, text, messages, after))
        self._reply_tasks.add(reply.task)
        reply.task.add_done_callback(self._reply_tasks.discard)
        self._reply = reply
        return reply

    async def _generate(self, reply: _Reply, text: str | None, messages: list[Message] | None,
                        after: asyncio.Task[None] | None) -> None:
        """Produce one reply: sentences (fixed or from the LLM) → TTS → frames and marks."""
        try:
            if after is not None:
                await asyncio.wait([after])
            sentences: asyncio.Queue[str | None] = asyncio.Queue(64)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._speak(reply, sentences))
                if messages is None:
                    for sentence in split_sentences(text or ""):
                        await sentences.put(sentence)
                else:
                    await self._think(reply, messages, sentences)
                await sentences.put(None)
        finally:
            self._post(ReplyDone(reply.id))

    async def _think(self, reply: _Reply, messages: list[Message], sentences: asyncio.Queue[str | None]) -> None:
        profile = self._profile
        chunker = SentenceChunker()
        try:
            stream = self._llm.stream_chat(messages, model=profile.model, temperature=profile.temperature,
                                           tools=CALL_TOOLS, faq=profile.faq)
            async with contextlib.aclosing(stream):
                async for event in stream:
                    if isinstance(event, TextDelta):
                        if reply.llm_first_token_at is None:
                            reply.llm_first_token_at = self._loop.time()
                        for sentence in chunker.feed(event.text):
                            await sentences.put(sentence)
                        if reply.stop_after_sentence:
                            return
                    elif isinstance(event, ToolCall):
                        reply.tool_calls.append(event)
            for sentence in chunker.flush():
                await sentences.put(sentence)
        except LlmError as exc:
            log.warning("llm_failed", error=str(exc), status=exc.status)
            self._metrics.provider_error("llm", error_kind(exc.status))
            await sentences.put(self._settings.apology_text)

    async def _speak(self, reply: _Reply, sentences: asyncio.Queue[str | None]) -> None:
        playout = reply.playout
        while (text := await sentences.get()) is not None:
            if reply.stop_after_sentence and playout.full_text():
                continue
            playout.start_sentence(text)
            chunker = FrameChunker()
            try:
                audio = self._tts.synthesize(text, self._profile.voice)
                async with contextlib.aclosing(audio):
                    async for chunk in audio:
                        if reply.tts_first_byte_at is None:
                            reply.tts_first_byte_at = self._loop.time()
                        for frame in chunker.push(chunk):
                            self._send_frame(reply, frame)
                        self._link.flush()
                tail = chunker.flush()
                if tail is not None:
                    self._send_frame(reply, tail)
            except TtsError as exc:
                log.warning("tts_failed", error=str(exc), status=exc.status)
                self._metrics.provider_error("tts", error_kind(exc.status))
            mark = playout.end_sentence()
            if mark is not None:
                self._send(self._stream.mark(mark).encode())
            self._link.flush()
        end = playout.finish()
        if end is not None:
            self._send(self._stream.mark(end).encode())
            self._link.flush()

    def _send_frame(self, reply: _Reply, frame: bytes) -> None:
        send = reply.playout.add_frame(frame)
        if send is None:
            return
        if reply.server_latency_ms is None and reply.turn_end_at is not None:
            now = self._loop.time()
            reply.server_latency_ms = round((now - reply.turn_end_at) * 1000)
            self._metrics.turn(TurnTimings(reply.turn_end_at, reply.llm_first_token_at, reply.tts_first_byte_at, now))
        self._send(self._stream.media_bytes(frame))
        if send.mark is not None:
            self._send(self._stream.mark(send.mark).encode())

    def _send(self, message: bytes) -> None:
        try:
            self._link.send(message)
        except ConnectionError:
            self.request_end(EndReason.STREAM_STOPPED)

    def _send_all(self, sends: list[Send]) -> None:
        """Re-send kept audio (a resume, a cut) as one burst."""
        for send in sends:
            if send.frame is not None:
                self._send(self._stream.media_bytes(send.frame))
            if send.mark is not None:
                self._send(self._stream.mark(send.mark).encode())
        self._link.flush()

    async def _on_mark(self, name: str) -> None:
        reply = self._reply
        if reply is None:
            return
        first = not reply.playout.first_heard
        if not reply.playout.played(name):
            return
        if first and reply.speech_end_ms is not None:
            reply.ear_latency_ms = self._media_ms - reply.speech_end_ms - _FRAME_MS
        if reply.playout.played_out and reply.done:
            await self._reply_finished(reply)

    async def _on_reply_done(self, reply_id: int) -> None:
        reply = self._reply
        if reply is None or reply.id != reply_id:
            return
        reply.done = True
        tools = {call.name for call in reply.tool_calls}
        if END_CALL in tools:
            spoke = bool(reply.playout.full_text())
            await self._end(EndReason.AGENT_ENDED, None if spoke else self._settings.goodbye_text, keep_reply=spoke)
        elif TRANSFER_CALL in tools:
            await self._transfer(reply)
        if reply.playout.played_out:
            await self._reply_finished(reply)

    async def _reply_finished(self, reply: _Reply) -> None:
        """The caller heard the whole reply."""
        self._close_reply(reply, interrupted=False)
        if self._lifecycle.state is CallState.ENDING and reply.kind in ("goodbye", "ending"):
            await self._goodbye_played()

    def _close_reply(self, reply: _Reply, *, interrupted: bool) -> None:
        """Move the reply into history (what was heard) and the records."""
        text = reply.playout.heard_text() if interrupted else reply.playout.full_text()
        if text and reply.kind in ("greeting", "answer", "apology"):
            self._history.append({"role": "assistant", "content": text})
        if text and self._recorder is not None:
            self._recorder.turn(TurnRecord("assistant", text, reply.started_at, interrupted=interrupted,
                                           server_latency_ms=reply.server_latency_ms,
                                           ear_latency_ms=reply.ear_latency_ms))
        if self._reply is reply:
            self._reply = None

    # -- tools and ending ----------------------------------------------------------------------

    async def _transfer(self, reply: _Reply) -> None:
        number = self._profile.transfer_number
        carrier = self._carrier
        if not number or carrier is None:
            call = next(c for c in reply.tool_calls if c.name == TRANSFER_CALL)
            self._history.append({"role": "assistant", "content": reply.playout.full_text() or None,
                                  "tool_calls": [{"id": call.id, "type": "function",
                                                  "function": {"name": call.name, "arguments": "{}"}}]})
            self._history.append({"role": "tool", "tool_call_id": call.id,
                                  "content": "Transfer is not available on this line; offer to take a message."})
            self._close_reply(reply, interrupted=False)
            self._start_reply("answer", messages=conversation(self._profile, self._history), after=reply.task)
            return

        async def dial() -> None:
            twiml = f"<Response><Dial>{number}</Dial></Response>"
            try:
                await carrier.redirect_call(self._info.call_sid, twiml)
                self._transferred_to = number
            except Exception:
                log.exception("transfer_failed", to=number)

        self._after_goodbye = dial
        await self._end(EndReason.TRANSFERRED, self._settings.transfer_text)

    async def _end(self, reason: EndReason, goodbye: str | None, *, keep_reply: bool = False) -> None:
        graceful = goodbye is not None or keep_reply
        transition = self._lifecycle.request_end(reason, graceful=graceful)
        if transition is Transition.FINISH:
            return  # the loop sees ENDED and tears down
        if transition is not Transition.SAY_GOODBYE:
            return
        self._set_timer(TimerKind.GOODBYE, self._settings.goodbye_timeout)
        if self._after_goodbye is None and self._carrier is not None:
            self._after_goodbye = self._hang_up
        reply = self._reply
        if keep_reply and reply is not None:
            reply.kind = "ending"
            reply.interruptible = False
            if reply.playout.played_out and reply.done:
                await self._reply_finished(reply)
            return
        previous: asyncio.Task[None] | None = None
        if reply is not None:
            if reply.playout.paused:
                self._confirm_barge_in()
            else:
                reply.stop_after_sentence = True
                reply.interruptible = False
                if reply.playout.sent_past_heard_sentence() and reply.task is not None:
                    await self._finish_heard_sentence(reply, reply.task)
                previous = reply.task
                self._close_reply(reply, interrupted=True)
        self._start_reply("goodbye", text=goodbye, after=previous)

    async def _finish_heard_sentence(self, reply: _Reply, task: asyncio.Task[None]) -> None:
        """Drop the queued sentences after the one the caller is hearing; that one plays to its end."""
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self._send(self._stream.clear().encode())
        self._send_all(reply.playout.cut_after_heard_sentence())

    async def _hang_up(self) -> None:
        """End the call through the carrier's REST API too, so no later TwiML verb keeps it open."""
        assert self._carrier is not None
        try:
            await self._carrier.end_call(self._info.call_sid)
        except Exception:
            log.exception("hang_up_failed")

    async def _goodbye_played(self) -> None:
        if self._after_goodbye is not None:
            action, self._after_goodbye = self._after_goodbye, None
            await action()
        self._lifecycle.goodbye_played()

    async def _on_timer(self, event: TimerFired) -> None:
        kind = event.kind
        self._timers.pop(kind, None)
        if kind is TimerKind.FALSE_INTERRUPTION:
            self._resume_after_false_interruption(event.reply_id)
        elif kind is TimerKind.KEYPAD:
            if self._reply is None:
                self._end_caller_turn()
        elif kind is TimerKind.GOODBYE:
            await self._goodbye_played()
        elif kind is TimerKind.MEDIA_WATCHDOG:
            if self._frames == self._frames_at_check:
                await self._end(EndReason.MEDIA_TIMEOUT, None)
            else:
                self._arm_watchdog()

    def _arm_watchdog(self) -> None:
        self._frames_at_check = self._frames
        self._set_timer(TimerKind.MEDIA_WATCHDOG, self._settings.media_timeout)

    def _set_timer(self, kind: TimerKind, delay: float) -> None:
        self._cancel_timer(kind)
        self._timers[kind] = self._loop.call_later(delay, self._post, TimerFired(kind))

    def _cancel_timer(self, kind: TimerKind) -> None:
        handle = self._timers.pop(kind, None)
        if handle is not None:
            handle.cancel()

    async def _teardown(self, outcome: CallOutcome) -> None:
        """Cancel every task, close the STT connection, write the records, tell observers, close the socket."""
        self._lifecycle.request_end(outcome.reason, graceful=False)
        for handle in [*self._timers.values(), self._barge, self._max_length]:
            if handle is not None:
                handle.cancel()
        self._timers.clear()
        reply = self._reply
        tasks = [t for t in (reply.task if reply else None, self._stt_pump) if t is not None]
        for task in tasks:
            task.cancel()
        if reply is not None:
            self._close_reply(reply, interrupted=not reply.playout.played_out)
        if self._stt is not None:
            await self._stt.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._cancel_stray_replies()
        started = time.monotonic()
        if self._recorder is not None:
            await self._recorder.close(end_reason=outcome.reason.value, duration_seconds=outcome.duration_seconds,
                                       transferred_to=self._transferred_to)
        await self._hooks.call_ended(self, outcome)
        with contextlib.suppress(ConnectionError):
            await self._link.close()
        log.info("call_ended", reason=outcome.reason.value, duration_s=round(outcome.duration_seconds, 2),
                 barge_ins=self.barge_ins, teardown_ms=round((time.monotonic() - started) * 1000, 1))

    async def _cancel_stray_replies(self) -> None:
        """Replies superseded by a goodbye may still be finishing their sentence: stop them too."""
        stray = [t for t in self._reply_tasks if not t.done()]
        for task in stray:
            task.cancel()
        await asyncio.gather(*stray, return_exceptions=True)
