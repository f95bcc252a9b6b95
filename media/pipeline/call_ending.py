"""How a call ends once something asks it to: the goodbye, the agent's tools, the carrier.

Every end request (hang-up, ``stop``, a timeout, out of funds, lost speech recognition, the
``end_call`` and ``transfer_call`` tools) arrives at :meth:`CallEnding.end`, which feeds the pure
:class:`media.pipeline.lifecycle.CallLifecycle`. A graceful end lets the sentence the caller
is hearing finish, says the goodbye and, once its last mark is echoed (or the goodbye
timeout runs out), runs the carrier action: hang up through the REST API, or dial the
transfer number. A hard end finishes at once: the session's loop sees ``ENDED`` and tears down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from media.pipeline.dialogue import Dialogue
from media.pipeline.frames import TimerKind
from media.pipeline.lifecycle import CallLifecycle, CallState, EndReason, Transition
from media.pipeline.prompt import END_CALL, TRANSFER_CALL, AgentProfile, conversation
from media.pipeline.replies import Replies
from media.pipeline.reply import Reply
from media.pipeline.settings import CallSettings
from media.pipeline.timers import Timers
from media.pipeline.turn_taking import TurnTaking

log = structlog.get_logger(__name__)

_NO_TRANSFER = ("Transfer is not available on this line; offer to take a message (open a ticket with open_ticket"
                " when you have it, so the staff call back).")


class CallCarrier(Protocol):
    """The live-call control the session needs from the phone carrier."""

    async def end_call(self, call_sid: str) -> None: ...

    async def redirect_call(self, call_sid: str, twiml: str) -> None: ...


class CallEnding:
    """The end of one call.

    Args:
        call_sid: the call's Twilio CallSid (for the carrier).
        profile: the agent (its transfer number, and the prompt when a transfer is refused).
        settings: spoken texts and the goodbye timeout.
        lifecycle: the call's state machine.
        timers: the call's timers (the goodbye timeout).
        replies: the agent's side (the goodbye is a reply).
        turns: the caller's side (a paused barge-in is confirmed before the goodbye).
        dialogue: where a refused transfer is answered.
        carrier: for transfers and hang-ups through the REST API (None when not configured).
    """

    __slots__ = ("transferred_to", "_call_sid", "_profile", "_settings", "_lifecycle", "_timers", "_replies",
                 "_turns", "_dialogue", "_carrier", "_after_goodbye")

    def __init__(self, *, call_sid: str, profile: AgentProfile, settings: CallSettings, lifecycle: CallLifecycle,
                 timers: Timers, replies: Replies, turns: TurnTaking, dialogue: Dialogue,
                 carrier: CallCarrier | None) -> None:
        self.transferred_to: str | None = None
        """The number the call was handed to, once the carrier took the transfer."""
        self._call_sid = call_sid
        self._profile = profile
        self._settings = settings
        self._lifecycle = lifecycle
        self._timers = timers
        self._replies = replies
        self._turns = turns
        self._dialogue = dialogue
        self._carrier = carrier
        self._after_goodbye: Callable[[], Awaitable[None]] | None = None

    async def end(self, reason: EndReason, goodbye: str | None, *, keep_reply: bool = False) -> None:
        """End the call; with ``goodbye`` (or ``keep_reply``: the current reply is the goodbye) gracefully."""
        graceful = goodbye is not None or keep_reply
        if self._lifecycle.request_end(reason, graceful=graceful) is not Transition.SAY_GOODBYE:
            return  # FINISH: the loop sees ENDED and tears down; NONE: already ending
        self._timers.set(TimerKind.GOODBYE, self._settings.goodbye_timeout)
        if self._after_goodbye is None and self._carrier is not None:
            self._after_goodbye = self._hang_up
        reply = self._replies.current
        if keep_reply and reply is not None:
            reply.kind = "ending"
            reply.interruptible = False
            if reply.playout.played_out and reply.done:
                await self.reply_heard(reply)
            return
        previous = None
        if reply is not None:
            if reply.playout.paused:
                self._turns.confirm_barge_in()
            else:
                previous = await self._replies.end_with_heard_sentence(reply)
        self._replies.start("goodbye", text=goodbye, after=previous)

    async def follow_tools(self, reply: Reply) -> None:
        """A reply finished generating: act on the tools its LLM called (``end_call``, ``transfer_call``)."""
        tools = {call.name for call in reply.tool_calls}
        if END_CALL in tools:
            spoke = bool(reply.playout.full_text())
            await self.end(EndReason.AGENT_ENDED, None if spoke else self._settings.goodbye_text, keep_reply=spoke)
        elif TRANSFER_CALL in tools:
            await self._transfer(reply)

    async def reply_heard(self, reply: Reply) -> None:
        """The caller heard the whole reply: file it; when it was the goodbye, finish the call."""
        self._replies.close(reply, interrupted=False)
        if self._lifecycle.state is CallState.ENDING and reply.kind in ("goodbye", "ending"):
            await self.goodbye_played()

    async def goodbye_played(self) -> None:
        """The goodbye played (or its timeout ran out): run the carrier action, then finish."""
        if self._after_goodbye is not None:
            action, self._after_goodbye = self._after_goodbye, None
            await action()
        self._lifecycle.goodbye_played()

    async def cannot_hear(self) -> None:
        """Speech recognition is gone for good: say so rather than leave the caller talking to silence,
        then end the call, or hand it to the agent's human number when there is one to dial."""
        text = self._settings.cant_hear_text
        number, carrier = self._profile.transfer_number, self._carrier
        if not number or carrier is None or not self._lifecycle.accepting_turns:
            await self.end(EndReason.STT_FAILED, text)
            return
        self._after_goodbye = self._dial(number, carrier)
        await self.end(EndReason.TRANSFERRED, f"{text} {self._settings.transfer_text}")

    def _dial(self, number: str, carrier: CallCarrier) -> Callable[[], Awaitable[None]]:
        """The carrier action of a transfer: redirect the live call to ``<Dial>`` the number."""

        async def dial() -> None:
            twiml = f"<Response><Dial>{number}</Dial></Response>"
            try:
                await carrier.redirect_call(self._call_sid, twiml)
                self.transferred_to = number
            except Exception:
                log.exception("transfer_failed", to=number)

        return dial

    async def _transfer(self, reply: Reply) -> None:
        number = self._profile.transfer_number
        carrier = self._carrier
        if not number or carrier is None:
            call = next(c for c in reply.tool_calls if c.name == TRANSFER_CALL)
            self._dialogue.tool_answered(reply.playout.full_text(), call, _NO_TRANSFER)
            self._replies.close(reply, interrupted=False)
            self._replies.start("answer", messages=conversation(self._profile, self._dialogue.history),
                                after=reply.task)
            return

        self._after_goodbye = self._dial(number, carrier)
        await self.end(EndReason.TRANSFERRED, self._settings.transfer_text)

    async def _hang_up(self) -> None:
        """End the call through the carrier's REST API too, so no later TwiML verb keeps it open."""
        assert self._carrier is not None
        try:
            await self._carrier.end_call(self._call_sid)
        except Exception:
            log.exception("hang_up_failed")
