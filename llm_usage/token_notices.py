"""Telling a texter the agent's tokens are spent once per period, not once per message.

A person who keeps texting an agent at its cap gets the limit text the first time in each
period, then silence: a reply to every text would spend the business's SMS money on refusals.
"""

from __future__ import annotations

import datetime
import uuid

from llm_usage.token_caps import Period, period_start
from storage.executor import Executor


async def first_notice(db: Executor, agent_id: uuid.UUID, recipient: str, period: Period, *,
                       now: datetime.datetime | None = None) -> bool:
    """Record that `recipient` is told about `period`'s limit; True only the first time in the period."""
    at = now if now is not None else datetime.datetime.now(datetime.UTC)
    inserted = await db.fetchval(
        "INSERT INTO token_limit_notices (agent_id, recipient, period, start) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING true", agent_id, recipient, period, period_start(period, at))
    return bool(inserted)
