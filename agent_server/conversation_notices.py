"""The shell's calls into `outcomes.notices` from the widget and SMS routes: conversation starts and agent failures.

A new widget conversation is stored with its `conversation_started` emails in one transaction;
an agent failure is queued after the failure (nothing else is stored then) and never fails the
request that saw it: the visitor's answer matters more than the business's email.
"""

from __future__ import annotations

import datetime
import uuid

import asyncpg
import structlog
from aiohttp import web

from agent_server.agents import Agent
from agent_server.outcome_jobs import unsubscribe_links
from agent_server.state import POOL, SETTINGS
from conversations import records
from outcomes import notices
from outcomes.records import Channel
from storage.executor import Executor
from storage.transactions import transaction

log = structlog.get_logger(__name__)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def start_widget_conversation(app: web.Application, conversation_id: uuid.UUID, agent: Agent, *,
                                    origin: str, first_message: str) -> None:
    """Store a new widget conversation and queue its `conversation_started` emails, together."""
    async with transaction(app[POOL]) as conn:
        await records.create_conversation(conn, conversation_id, agent_id=agent.id, business_id=agent.business_id,
                                          origin=origin)
        await notices.conversation_started(conn, agent.business_id, agent.id, conversation_id=conversation_id,
                                           channel="widget", contact=None, first_message=first_message,
                                           now=_now(), links=unsubscribe_links(app[SETTINGS]))


async def sms_received(app: web.Application, db: Executor, message_id: uuid.UUID) -> None:
    """An inbound text the agent will answer was stored (in `db`'s transaction): a stretch may have started."""
    await notices.sms_received(db, message_id, now=_now(), links=unsubscribe_links(app[SETTINGS]))


async def agent_failed(app: web.Application, agent: Agent, *, channel: Channel, problem: str,
                       db: Executor | None = None, contact: str | None = None,
                       conversation_id: uuid.UUID | None = None) -> None:
    """The agent could not answer: queue its `agent_error` emails (in `db`'s transaction when given)."""
    try:
        await notices.agent_error(db or app[POOL], agent.business_id, agent.id, channel=channel, problem=problem,
                                  now=_now(), links=unsubscribe_links(app[SETTINGS]), contact=contact,
                                  conversation_id=conversation_id)
    except (asyncpg.PostgresError, OSError):
        if db is not None:
            raise  # the caller's transaction is broken: let it roll back as a whole
        log.exception("agent_error_notice_failed", agent_id=str(agent.id))
