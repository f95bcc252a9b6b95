"""The caller's script: each step taken once the agent's reply is over, or timed into the reply to interrupt it."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Coroutine
from typing import Any

from media.caller_simulator.line import Line
from media.caller_simulator.pacing import FRAME_SECONDS, Poll
from media.caller_simulator.playback import Player
from media.caller_simulator.steps import HangUp, Press, Say, Step


class Script:
    """How long the caller waits for the agent, and the steps played with those waits.

    Args:
        quiet_timeout: give up waiting for the agent to finish after this many seconds.
        reply_timeout: seconds to wait for an expected reply (or greeting) to start before
            taking the next step anyway.
    """

    __slots__ = ("quiet_timeout", "reply_timeout")

    def __init__(self, quiet_timeout: float, reply_timeout: float) -> None:
        self.quiet_timeout = quiet_timeout
        self.reply_timeout = reply_timeout

    async def run(self, steps: list[Step], line: Line, player: Player, receiver: asyncio.Task[None]) -> None:
        """Play the steps; before each one the agent's pending reply (the greeting first) must be over.

        The first step waits for the greeting as a person does: for a reply that starts after
        the stream did, or for ``reply_timeout`` (then they say "hello?" into the silence).
        Quiet alone is not enough: the greeting's first frame can come later than the 0.25 s
        quiet that ends a reply (a slow TTS first byte, a loaded server), and a caller who took
        that silence for the end of the greeting spoke over it, the server rightly took it as
        a barge-in, and the call heard one reply fewer than its script expected.
        """
        since = player.loop.time()
        for step in [*steps, HangUp()] if not steps or not isinstance(steps[-1], HangUp) else steps:
            if receiver.done():
                return
            if isinstance(step, Say) and step.barge_in_after is not None:
                await self._wait_for_agent_audio(player, step.barge_in_after, receiver)
                await _unless_closed(line.say(step.audio, barge_in=True), receiver)
                since = player.loop.time()
                continue
            if isinstance(step, HangUp) and step.after_agent_audio is not None:
                await self._wait_for_agent_audio(player, step.after_agent_audio, receiver)
                return
            await self._wait_quiet(player, receiver, since)
            if receiver.done():
                return
            if isinstance(step, Say):
                await _unless_closed(line.say(step.audio, barge_in=False), receiver)
            elif isinstance(step, Press):
                await line.press(step.digits)
            else:
                return
            since = player.loop.time()

    async def _wait_quiet(self, player: Player, receiver: asyncio.Task[None], since: float) -> None:
        """Until a reply that started after ``since`` (the caller's last step) has played out.

        A reply that started earlier (say, the greeting resuming after the caller's first
        words) is not the answer to that step. Without any reply in ``reply_timeout``, move on.
        """
        loop = player.loop
        start = loop.time()
        deadline = start + self.quiet_timeout
        with Poll(player, receiver, start, FRAME_SECONDS) as poll:
            while loop.time() < deadline and not receiver.done():
                now = loop.time()
                answered = player.last_reply_started >= since or now - start > self.reply_timeout
                if answered and player.quiet() and now - max(player.last_audio_at, start) > 0.25:
                    return
                # No poll succeeds while a reply plays (the player calls poll.soon() when it ends), within
                # 0.25 s of agent audio (last_audio_at only grows) or, unanswered, before the timeout or
                # 0.25 s after a reply's first frame, which comes now or later.
                earliest = math.inf if player.in_reply else max(player.last_audio_at, start) + 0.25
                if not answered:
                    earliest = max(earliest, min(now + 0.25, start + self.reply_timeout))
                await poll.next(min(earliest, deadline))

    async def _wait_for_agent_audio(self, player: Player, seconds: float, receiver: asyncio.Task[None]) -> None:
        """Until the agent's next reply has been playing for ``seconds``."""
        loop = player.loop
        start = loop.time()
        deadline = start + self.quiet_timeout
        with Poll(player, receiver, start, FRAME_SECONDS / 2) as poll:
            while loop.time() < deadline and not receiver.done():
                now = loop.time()
                started = player.reply_started_at if player.in_reply else None
                if started is not None and now - started >= seconds:
                    return
                # A reply that starts from now on starts now or later, so none is `seconds` old sooner.
                earliest = (min(started, now) if started is not None else now) + seconds
                await poll.next(min(earliest, deadline))


async def _unless_closed(action: Coroutine[Any, Any, None], receiver: asyncio.Task[None]) -> None:
    """Run ``action`` unless the server hangs up first (the receiver ends with the socket)."""
    task = asyncio.ensure_future(action)
    await asyncio.wait([task, receiver], return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
