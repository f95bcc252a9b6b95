"""The shell's side of webhook delivery: the `automations.webhook_send` handler with its guarded HTTP session.

The session lives as long as the runner; its connector resolves every connection through the
knowledge base's guard with the same allow-list (`[knowledge] allowed_private_hosts`), so one
list says which private hosts the server may reach, for crawls and webhooks alike.

The sender has a small pool of its own (`open_sender_pool`), for the round trip it makes per
batch of answers:

- no reset query when a connection goes back (asyncpg's would be a second round trip per use):
  the sender's statements leave nothing on a session;
- `synchronous_commit = off`: a batch's commit does not wait for its WAL flush. Nothing is lost
  that matters: the sender's job is finished on the main pool with a synchronous commit, which
  flushes every earlier record of the drain with it; a database crash before that loses at most
  the last claims and outcomes, and the job, taken back after its lease, sends those messages
  again under the same `webhook-id` (Standard Webhooks receivers drop the repeat).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import version

import asyncpg

from agent_server.config import Settings
from automations.webhook_delivery import SendWebhook, SweepWebhooks
from automations.webhook_http import guarded_session
from automations.webhook_outbox import SEND_KIND, SWEEP_KIND, SWEEP_SCHEDULE
from jobs.runner import Clock, Handler, Recurring, utc_now
from jobs.schedule import Schedule
from storage.pool import init_connection

RECURRING: tuple[Recurring, ...] = (Recurring(SWEEP_KIND, Schedule.parse(SWEEP_SCHEDULE)),)

SENDER_POOL_SIZE = 4
"""Connections for the sender: a drain holds one only for a round trip, never while a receiver answers."""


def user_agent(settings: Settings) -> str:
    return f"AgentServer-Webhooks/{version('agent-server')} (+{settings.server.public_url})"


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Pool reset that sends nothing (asyncpg still rolls back a transaction left open)."""


async def open_sender_pool(dsn: str, *, size: int = SENDER_POOL_SIZE,
                           command_timeout: float | None = None) -> asyncpg.Pool:
    """The sender's pool (see the module docstring for its two settings)."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=size, command_timeout=command_timeout,
                                     init=init_connection, reset=_keep_session,
                                     server_settings={"synchronous_commit": "off"})
    assert pool is not None
    return pool


@contextlib.asynccontextmanager
async def handlers(settings: Settings, dsn: str, *, clock: Clock = utc_now) -> AsyncIterator[dict[str, Handler]]:
    allowed = settings.knowledge.allowed_private_hosts
    pool = await open_sender_pool(dsn, command_timeout=settings.database.command_timeout_seconds)
    try:
        async with guarded_session(allowed, user_agent=user_agent(settings)) as session:
            yield {SEND_KIND: SendWebhook(pool, session, clock=clock, allowed_private_hosts=allowed),
                   SWEEP_KIND: SweepWebhooks(pool, clock=clock)}
    finally:
        await pool.close()
