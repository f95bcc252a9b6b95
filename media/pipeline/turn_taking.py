"""Who has the floor: the caller's words and keys gathered into turns, and barge-in on the agent.

When the caller's turn ends (STT's final or utterance end, the keypad pause, a dropped STT
socket) the turn goes to the session, which answers it. While the agent speaks, speech
start pauses it at once (a ``clear`` to Twilio) and words confirm the interruption: the
reply is cancelled and only what was heard stays. No words within the false-interruption
timeout (a cough, a door) and the reply resumes exactly where playback stopped. The word
rules themselves are :mod:`media.pipeline.turns`.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable
from dataclasses import dataclass

from media.pipeline import turns
from media.pipeline.frames import TimerKind
from media.pipeline.lifecycle import CallLifecycle
from media.pipeline.outbound import Outbound
from media.pipeline.replies import Replies
from media.pipeline.settings import CallSettings
from media.pipeline.telemetry import CallMetrics
from media.pipeline.timers import Timers
from media.stt.base import Transcript, UtteranceEnd


@dataclass(frozen=True, slots=True)
class CallerTurn:
    """What the caller said in one turn.

    Attributes:
        text: the final transcripts, then any keys pressed.
        started: when the turn's first words or keys arrived.
        speech_end_s: where STT put the end of the last word (its clock), if words were spoken.
    """

    text: str
    started: datetime.datetime
    speech_end_s: float | None


class TurnTaking:
    """The caller's side of one call.

    Args:
        settings: barge-in thresholds and the keypad pause.
        lifecycle: turns are taken only while the call is active.
        replies: the agent's side (paused, cancelled or resumed here).
        wire: the call's outbound stream (for ``clear`` and resumed audio).
        timers: the call's timers (keypad pause, false interruption).
        metrics: where barge-in reactions are reported.
        loop: the call's event loop.
        on_turn: called with each finished caller turn.
    """

    __slots__ = ("barge_ins", "_settings", "_lifecycle", "_replies", "_wire", "_timers", "_metrics", "_loop",
                 "_on_turn", "_speech_heard_at", "_parts", "_interim", "_started", "_speech_end_s", "_digits")

    def __init__(self, *, settings: CallSettings, lifecycle: CallLifecycle, replies: Replies, wire: Outbound,
                 timers: Timers, metrics: CallMetrics, loop: asyncio.AbstractEventLoop,
                 on_turn: Callable[[CallerTurn], None]) -> None:
        self.barge_ins = 0
        """Times the caller interrupted the agent."""
        self._settings = settings
        self._lifecycle = lifecycle
        self._replies = replies
        self._wire = wire
        self._timers = timers
        self._metrics = metrics
        self._loop = loop
        self._on_turn = on_turn
        self._speech_heard_at: float | None = None
        self._parts: list[str] = []
        self._interim = ""
        self._started: datetime.datetime | None = None
        self._speech_end_s: float | None = None
        self._digits: list[str] = []

    # -- the caller's words --------------------------------------------------------------------

    def speech_heard(self) -> None:
        """STT reported speech start (called by the STT reader the moment it arrives, ahead of the
        queue): the barge-in reaction is measured from here."""
        if self._speech_heard_at is None:
            self._speech_heard_at = self._loop.time()

    def on_speech_started(self) -> None:
        """The speech start reached the control loop: pause the agent if it may be interrupted."""
        if self._replies.interruptible() and not self._timers.pending(TimerKind.FALSE_INTERRUPTION):
            self._pause_for_barge_in()
        self._speech_heard_at = None

    def on_transcript(self, event: Transcript) -> None:
        """Words from STT: confirm a barge-in, skip a backchannel, or gather them into the turn."""
        text = event.text.strip()
        if text and self._replies.interruptible():
            if turns.confirms_barge_in(text, self._settings.barge_in_min_words):
                if not self._timers.pending(TimerKind.FALSE_INTERRUPTION):
                    self._pause_for_barge_in()
                self.confirm_barge_in()
            elif event.is_final:
                return  # a backchannel while the agent talks: not a turn
        self._interim = "" if event.is_final else text
        if not event.is_final or not text:
            if event.speech_final and self._replies.current is None:
                self._end_turn()
            return
        if self._started is None:
            self._started = datetime.datetime.now(datetime.UTC)
        self._parts.append(text)
        self._speech_end_s = event.start + event.duration
        if event.speech_final and self._replies.current is None:
            self._end_turn()

    def on_utterance_end(self, event: UtteranceEnd) -> None:
        """STT heard the caller stop: the turn ends unless the agent already has the floor."""
        if self._replies.current is None:
            self._speech_end_s = max(self._speech_end_s or 0.0, event.last_word_end)
            self._end_turn()

    def on_stt_dropped(self) -> None:
        """A dropped STT connection loses the words in flight: keep the last interim as the turn."""
        if self._interim and self._replies.current is None:
            self._parts.append(self._interim)
            self._end_turn()
        self._interim = ""

    def on_key(self, digit: str) -> None:
        """A key press joins the turn; the turn ends after a pause in pressing."""
        self._digits.append(digit)
        if self._started is None:
            self._started = datetime.datetime.now(datetime.UTC)
        self._timers.set(TimerKind.KEYPAD, self._settings.dtmf_timeout)

    def on_keypad_pause(self) -> None:
        """No key for the keypad timeout: the turn ends unless the agent already has the floor."""
        if self._replies.current is None:
            self._end_turn()

    def _end_turn(self) -> None:
        text = turns.join_turn(self._parts, self._digits)
        if not text or not self._lifecycle.accepting_turns:
            return
        self._timers.cancel(TimerKind.KEYPAD)
        turn = CallerTurn(text, self._started or datetime.datetime.now(datetime.UTC), self._speech_end_s)
        self._parts, self._digits, self._started, self._speech_end_s = [], [], None, None
        self._on_turn(turn)

    # -- barge-in ------------------------------------------------------------------------------

    def _pause_for_barge_in(self) -> None:
        """Tentative barge-in: silence the agent at once, keep its reply ready to resume."""
        reply = self._replies.current
        assert reply is not None
        reply.playout.pause()
        self._wire.clear()
        self._wire.flush()
        self.barge_ins += 1
        now = self._loop.time()
        self._metrics.barge_in(now - (self._speech_heard_at or now))
        self._timers.set(TimerKind.FALSE_INTERRUPTION, self._settings.false_interruption_timeout, reply.id)

    def confirm_barge_in(self) -> None:
        """The caller really interrupted: stop the reply; history keeps only what was heard."""
        reply = self._replies.current
        assert reply is not None
        self._timers.cancel(TimerKind.FALSE_INTERRUPTION)
        if reply.task is not None:
            reply.task.cancel()
        self._replies.close(reply, interrupted=True)

    def on_false_interruption(self, reply_id: int) -> None:
        """No words came with the speech: carry on where playback stopped."""
        reply = self._replies.current
        if reply is None or reply.id != reply_id or not reply.playout.paused:
            return
        self._wire.burst(reply.playout.resume())
