"""Token caps during calls: the call observer that reserves each call's token blocks and ends a call at the cap.

A spent agent's calls are turned away at the voice webhook (`routes/twilio_voice.py`). A call
that reaches the cap while it runs still hears the answer the model already wrote (its tokens
were within the block granted); the caller's next turn, which could get no tokens, is answered
with the limit line and the goodbye instead of a model's answer, and the call ends with
`end_reason = token_limit`. Tokens are counted from the call's LLM attempts as its background
recorder writes their rows (`sink` wraps that writer), so no turn waits on the database; a turn
that starts before the row of the answer that spent the block is written still asks the model
(the block's last tokens cover it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from agent_server.state import CALL_HOOKS, SETTINGS
from agent_server.token_pool import TOKEN_POOL
from llm_usage.token_budgets import RESERVATION_SECONDS
from llm_usage.token_caps import TokenLimitReached
from llm_usage.token_calls import CallTokens
from media.call_records import LlmAttemptRecord, LlmAttemptSink
from media.pipeline.hooks import CallControl, CallInfo, CallOutcome
from media.pipeline.lifecycle import EndReason

log = structlog.get_logger(__name__)


class CallTokenCaps:
    """One per process; a `CallTokens` per live call, by CallSid."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._calls: dict[str, tuple[CallControl, CallTokens]] = {}
        self._starting: dict[str, asyncio.Task[None]] = {}

    async def admit(self, call: CallInfo) -> str | None:
        """The webhook already turned away an agent without a block's worth of tokens."""
        return None

    async def call_started(self, call: CallControl) -> None:
        settings = self._app[SETTINGS]
        tokens = CallTokens(self._app[TOKEN_POOL], call.info.agent_id, call_id=call.info.call_id,
                            expires_in=settings.calls.max_call_seconds + RESERVATION_SECONDS)
        sid = call.info.call_sid
        self._calls[sid] = (call, tokens)
        self._starting[sid] = asyncio.create_task(self._start(call, tokens), name=f"tokens:{sid}")

    async def _start(self, call: CallControl, tokens: CallTokens) -> None:
        try:
            await tokens.start()
        except TokenLimitReached as exc:
            self._end(call, exc)

    async def call_ended(self, call: CallControl, outcome: CallOutcome) -> None:
        sid = call.info.call_sid
        task = self._starting.pop(sid, None)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        entry = self._calls.pop(sid, None)
        if entry is not None:
            await entry[1].close()

    def sink(self, call_sid: str, inner: LlmAttemptSink) -> LlmAttemptSink:
        """`inner` (the row writer), then the attempt's tokens counted against the call's block."""
        async def write(record: LlmAttemptRecord) -> None:
            await inner(record)
            entry = self._calls.get(call_sid)
            if entry is None:
                return
            call, tokens = entry
            try:
                await tokens.count(record.input_tokens + record.output_tokens)
            except TokenLimitReached as exc:
                self._end(call, exc)
        return write

    def _end(self, call: CallControl, exc: TokenLimitReached) -> None:
        """At the caller's next turn: the limit line, then the goodbye, then the hang-up."""
        settings = self._app[SETTINGS]
        log.info("call_token_limit", call_sid=call.info.call_sid, period=exc.period)
        call.end_at_next_turn(EndReason.TOKEN_LIMIT,
                              goodbye=f"{settings.limits.text(exc.period)} {settings.calls.goodbye_text}")


CALL_TOKENS = web.AppKey("call_tokens", CallTokenCaps)


async def _register(app: web.Application) -> AsyncIterator[None]:
    app[CALL_HOOKS].add(app[CALL_TOKENS])
    yield


def setup(app: web.Application) -> None:
    """Cap every call's tokens (after the voice routes created CALL_HOOKS)."""
    app[CALL_TOKENS] = CallTokenCaps(app)
    app.cleanup_ctx.append(_register)
