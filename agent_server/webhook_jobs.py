"""The shell's side of webhook delivery: the `automations.webhook_send` handler with its guarded HTTP session.

The session lives as long as the runner; its connector resolves every connection through the
knowledge base's guard with the same allow-list (`[knowledge] allowed_private_hosts`), so one
list says which private hosts the server may reach, for crawls and webhooks alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import version

import asyncpg

from agent_server.config import Settings
from automations.webhook_delivery import SendWebhook
from automations.webhook_http import guarded_session
from automations.webhook_outbox import SEND_KIND
from jobs.runner import Clock, Handler, utc_now


def user_agent(settings: Settings) -> str:
    return f"AgentServer-Webhooks/{version('agent-server')} (+{settings.server.public_url})"


@contextlib.asynccontextmanager
async def handlers(settings: Settings, pool: asyncpg.Pool, *,
                   clock: Clock = utc_now) -> AsyncIterator[dict[str, Handler]]:
    allowed = settings.knowledge.allowed_private_hosts
    async with guarded_session(allowed, user_agent=user_agent(settings)) as session:
        yield {SEND_KIND: SendWebhook(pool, session, clock=clock, allowed_private_hosts=allowed)}
