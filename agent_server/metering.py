"""Calls paid from the wallet: the call observer that grants, checkpoints, stops and settles.

The pipeline knows nothing of money; this observer (media.pipeline.hooks.CallObserver)
admits a call only when its first grant is held, commits usage and extends the grant every
`call_checkpoint_seconds`, and, when the wallet can pay no further, ends the call when the
money does: the goodbye (the agent finishes the sentence being heard, then says
`goodbye_text`) starts `call_goodbye_reserve_seconds` before the granted time runs out, so
it is over inside the grant. The reserve is a fixed figure from config rather than a
measurement: the goodbye is synthesised only when asked for, and a call that has just run
out of money can't wait to find out how long it is. `call_end_grace_seconds` past the
granted time stays as a hard stop for a goodbye that won't finish (that grace is not
charged). Whatever ends the call, one settle charges ceil(seconds) at the call's rate,
never more than was granted; the log line ``call_settled`` of an out-of-funds call carries
how long its goodbye took, to tune the reserve by.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator

import asyncpg
import structlog
from aiohttp import web

from agent_server.config import Settings
from agent_server.state import CALL_HOOKS, POOL, SETTINGS
from billing import call_meter, price_book
from billing.provider_costs import call_per_minute
from media.pipeline.hooks import CallControl, CallInfo, CallOutcome
from media.pipeline.lifecycle import EndReason

log = structlog.get_logger(__name__)

# The last try to extend a grant is made this long before it runs out.
EXTEND_LEAD_SECONDS = 1.0


class CallMetering:
    """One per process; keeps a checkpoint task per live call."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._billing = settings.billing
        self._goodbye = settings.calls.goodbye_text
        self._refusal = settings.billing.insufficient_funds_text
        # What a minute costs the platform (carrier, STT, estimated LLM and speech at the default model).
        self._cost_per_minute = call_per_minute(settings.provider_costs, settings.openai.model)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # CallSid -> call time at which the out-of-funds goodbye was asked for.
        self._goodbye_at: dict[str, float] = {}

    async def admit(self, call: CallInfo) -> str | None:
        prices = await price_book.prices_for(self._pool, call.business_id,
                                             price_book.default_prices(self._billing))
        meter = await call_meter.open_meter(
            self._pool, business_id=call.business_id, call_sid=call.call_sid, prices=prices,
            wanted=self._billing.call_grant_seconds, minimum=self._billing.call_minimum_seconds,
            lease_seconds=self._billing.hold_lease_seconds)
        if meter is None:
            log.info("call_refused_insufficient_funds", call_sid=call.call_sid)
            return self._refusal
        log.info("call_granted", call_sid=call.call_sid, seconds=meter.granted_seconds)
        return None

    async def call_started(self, call: CallControl) -> None:
        sid = call.info.call_sid
        self._tasks[sid] = asyncio.create_task(self._meter(call), name=f"meter:{sid}")

    async def call_ended(self, call: CallControl, outcome: CallOutcome) -> None:
        task = self._tasks.pop(call.info.call_sid, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        used = math.ceil(max(0.0, outcome.duration_seconds))
        meter = await call_meter.settle(self._pool, call.info.call_sid, used_seconds=used,
                                        source=outcome.reason.value, cost_per_minute=self._cost_per_minute)
        goodbye_at = self._goodbye_at.pop(call.info.call_sid, None)
        goodbye = None if goodbye_at is None else round(outcome.duration_seconds - goodbye_at, 2)
        log.info("call_settled", call_sid=call.info.call_sid, seconds=meter.settled_seconds,
                 goodbye_seconds=goodbye)

    async def _meter(self, call: CallControl) -> None:
        """Checkpoint on schedule; when the grant can't grow, say goodbye so the call ends at its end."""
        meter = await call_meter.get_meter(self._pool, call.info.call_sid)
        if meter is None:
            return
        granted = meter.granted_seconds
        interval = self._billing.call_checkpoint_seconds
        reserve = self._billing.call_goodbye_reserve_seconds
        while True:
            # Talking time left: the goodbye must start `reserve` before the grant runs out.
            remaining = granted - reserve - call.elapsed()
            if remaining > interval:
                await asyncio.sleep(interval)
                granted = await self._checkpoint(call, granted)
                continue
            # The goodbye is due before the next checkpoint: try to extend just before it is.
            await asyncio.sleep(max(0.0, remaining - EXTEND_LEAD_SECONDS))
            granted = await self._checkpoint(call, granted)
            if granted - reserve - call.elapsed() > EXTEND_LEAD_SECONDS:
                continue
            await asyncio.sleep(max(0.0, granted - reserve - call.elapsed()))
            await self._end_within(call, granted)
            return

    async def _checkpoint(self, call: CallControl, granted: int) -> int:
        """Commit usage and try to extend; on a database failure keep to what is already held."""
        try:
            meter = await call_meter.checkpoint(
                self._pool, call.info.call_sid, used_seconds=math.ceil(call.elapsed()),
                grant_ahead=self._billing.call_grant_seconds, lease_seconds=self._billing.hold_lease_seconds,
                cost_per_minute=self._cost_per_minute)
        except (OSError, asyncpg.PostgresError):
            log.exception("call_checkpoint_failed", call_sid=call.info.call_sid)
            return granted
        return meter.granted_seconds

    async def _end_within(self, call: CallControl, granted: int) -> None:
        """Ask for the goodbye now; cut the call at the hard stop if it is still going then."""
        self._goodbye_at[call.info.call_sid] = call.elapsed()
        log.info("call_out_of_funds", call_sid=call.info.call_sid, granted_seconds=granted,
                 goodbye_reserve_seconds=self._billing.call_goodbye_reserve_seconds)
        call.request_end(EndReason.OUT_OF_FUNDS, goodbye=self._goodbye)
        hard_stop = granted + self._billing.call_end_grace_seconds
        await asyncio.sleep(max(0.0, hard_stop - call.elapsed()))
        call.request_end(EndReason.OUT_OF_FUNDS)


async def _register(app: web.Application) -> AsyncIterator[None]:
    app[CALL_HOOKS].add(CallMetering(app[POOL], app[SETTINGS]))
    yield


def setup(app: web.Application) -> None:
    """Meter every call of this app (after the voice routes created CALL_HOOKS)."""
    app.cleanup_ctx.append(_register)
