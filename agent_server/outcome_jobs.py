"""The shell's side of outcomes: its job kinds for the runner, and the call observer that tells outcomes of calls.

The analysis model is the OpenAI-compatible server of `[openai]`, asked for whole JSON answers
on the lean aiohttp client (the SDK's request transform walks the analysis's JSON schema on the
event loop, a few ms a request); without OPENAI_API_KEY each analysis ends `analysis_failed`.
It is paid from the wallet like a chat reply.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import structlog
from aiohttp import web

from agent_server.config import Settings
from agent_server.customer_jobs import summary_links
from agent_server.reply_billing import WalletReplyPayment
from agent_server.state import CALL_HOOKS, POOL, SETTINGS
from customers import weekly_summary
from jobs.queue import Job
from jobs.runner import Clock, Handler, Recurring, utc_now
from jobs.schedule import Schedule
from media.llm.openai_sse import OpenAiSseChat
from media.pipeline.hooks import CallControl, CallInfo, CallOutcome
from outcomes import ending, notices, unsubscribe, weekly
from outcomes.analysis import Analyser
from outcomes.job_handlers import (
    EXTRACT_BATCH_KIND,
    LEAD_SWEEP_KIND,
    LEAD_SWEEP_SCHEDULE,
    Analyse,
    EndIdle,
    ExtractBatch,
    LeadSweep,
)
from outcomes.weekly import WEEKLY_KIND, WEEKLY_SCHEDULE
from storage.transactions import transaction

log = structlog.get_logger(__name__)

# A whole analysis (not streamed) may take a model this long to answer.
ANSWER_SECONDS = 60.0

RECURRING: tuple[Recurring, ...] = (
    Recurring(ending.END_IDLE_KIND, Schedule.parse(ending.END_IDLE_SCHEDULE)),
    Recurring(LEAD_SWEEP_KIND, Schedule.parse(LEAD_SWEEP_SCHEDULE)),
    Recurring(WEEKLY_KIND, Schedule.parse(WEEKLY_SCHEDULE)),
)


def unsubscribe_secret(settings: Settings) -> bytes:
    """The key unsubscribe links are signed with (derived from the JWT secret, never sent anywhere)."""
    return hashlib.sha256(b"unsubscribe:" + settings.auth.jwt_secret.encode()).digest()


def unsubscribe_links(settings: Settings) -> unsubscribe.Links:
    """The one-click unsubscribe links of this server's notification emails."""
    return unsubscribe.Links(settings.server.public_url, unsubscribe_secret(settings))


@contextlib.asynccontextmanager
async def analyser_for(settings: Settings, pool: asyncpg.Pool, *, clock: Clock = utc_now) -> AsyncIterator[Analyser]:
    """The analyser for the block's duration; its model client closed after."""
    session = aiohttp.ClientSession() if settings.openai.api_key else None
    llm = None
    if session is not None:
        llm = OpenAiSseChat(session, settings.openai.api_key, settings.openai.base_url,
                            first_chunk_timeout=ANSWER_SECONDS, read_timeout=ANSWER_SECONDS)
    payment = WalletReplyPayment(pool, settings.billing, costs=settings.provider_costs, model=settings.openai.model)
    try:
        yield Analyser(pool, llm, payment, settings.outcomes, links=unsubscribe_links(settings), clock=clock)
    finally:
        if session is not None:
            await session.close()


@contextlib.asynccontextmanager
async def handlers(settings: Settings, pool: asyncpg.Pool, *,
                   clock: Clock = utc_now) -> AsyncIterator[dict[str, Handler]]:
    """The handler of every outcome kind, for the block's duration."""
    async with analyser_for(settings, pool, clock=clock) as analyser:
        yield {
            ending.END_IDLE_KIND: EndIdle(pool, clock=clock),
            ending.ANALYSE_KIND: Analyse(analyser),
            LEAD_SWEEP_KIND: LeadSweep(pool, analyser, settings.outcomes),
            EXTRACT_BATCH_KIND: ExtractBatch(pool, analyser, settings.outcomes),
            WEEKLY_KIND: WeeklySummaries(pool, settings, clock=clock),
        }


class WeeklySummaries:
    """`outcomes.weekly_summary`, hourly: the members' summaries due this hour, then the customers' (each queued
    once per ISO week, so a retry after either part sends nothing twice)."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, *, clock: Clock) -> None:
        self._pool = pool
        self._settings = settings
        self._clock = clock

    async def __call__(self, job: Job) -> None:
        now = self._clock()
        await weekly.send_due(self._pool, now=now, public_url=self._settings.server.public_url,
                              secret=unsubscribe_secret(self._settings))
        await weekly_summary.send_due(self._pool, now=now, links=summary_links(self._settings))


class CallOutcomes:
    """A call observer: its start is a `conversation_started` email; at hang-up its conversation ends, its
    analysis is queued and, when it recorded LLM or STT faults, its `agent_error` emails, in one transaction."""

    def __init__(self, pool: asyncpg.Pool, links: unsubscribe.Links, *, clock: Clock = utc_now) -> None:
        self._pool = pool
        self._links = links
        self._clock = clock

    async def admit(self, call: CallInfo) -> str | None:
        return None

    async def call_started(self, call: CallControl) -> None:
        info = call.info
        await notices.conversation_started(self._pool, info.business_id, info.agent_id, conversation_id=info.call_id,
                                           channel="call", contact=info.from_number, first_message=None,
                                           now=self._clock(), links=self._links)

    async def call_ended(self, call: CallControl, outcome: CallOutcome) -> None:
        info, now = call.info, self._clock()
        async with transaction(self._pool) as conn:
            if await ending.end_call(conn, info.call_id, info.business_id, now=now):
                await notices.call_faults(conn, info.call_id, info.business_id, info.agent_id,
                                          contact=info.from_number, now=now, links=self._links)


async def _register(app: web.Application) -> AsyncIterator[None]:
    app[CALL_HOOKS].add(CallOutcomes(app[POOL], unsubscribe_links(app[SETTINGS])))
    yield


def setup(app: web.Application) -> None:
    """Tell outcomes of every call's start and end (after the voice routes created CALL_HOOKS)."""
    app.cleanup_ctx.append(_register)
