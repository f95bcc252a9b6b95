"""Background jobs that run in every process but act in one at a time (database advisory locks).

Each job is a loop started with the app and cancelled at cleanup; the work itself decides
who acts (the call sweeper takes an advisory lock), so with N worker processes the job is
tried N times per interval and done once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import structlog
from aiohttp import web

from agent_server.state import POOL, SETTINGS
from billing import call_meter
from billing.provider_costs import call_per_minute
from conversations import rate_limits
from llm_usage import token_budgets

log = structlog.get_logger(__name__)


async def every(name: str, interval: float, work: Callable[[], Awaitable[object]]) -> None:
    """Run `work` every `interval` seconds until cancelled; a failure is logged, never fatal."""
    while True:
        await asyncio.sleep(interval)
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job_failed", job=name)


async def _sweep_calls(app: web.Application) -> None:
    settings = app[SETTINGS]
    settled = await call_meter.sweep(
        app[POOL], cost_per_minute=call_per_minute(settings.provider_costs, settings.openai.model))
    for meter in settled:
        log.info("call_swept", call_sid=meter.call_sid, seconds=meter.settled_seconds, source=meter.settle_source)


@contextlib.asynccontextmanager
async def running(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run `work` as a task for the duration of the block; cancel it and wait for it on exit."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _jobs(app: web.Application) -> AsyncIterator[None]:
    interval = app[SETTINGS].billing.sweeper_interval_seconds
    async with (running(every("call_sweeper", interval, lambda: _sweep_calls(app))),
                running(every("token_reservation_sweeper", interval, lambda: token_budgets.sweep(app[POOL]))),
                running(every("rate_limit_cleanup", rate_limits.CLEANUP_INTERVAL_SECONDS,
                              lambda: rate_limits.forget_idle(app[POOL])))):
        yield


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_jobs)
