"""The portal's figures per assigned agent over a range: conversations by channel, call minutes, leads, outcomes.

The same quantities as the business's weekly summary (`outcomes.weekly`), counted from the
same tables, but grouped by agent and limited, like every portal read, to the customer's
current assignments (`customers.portal`'s scope).
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid

from customers.portal import CONVERSATIONS, MINE, Scope, agents
from storage.executor import Executor

CHANNELS = ("widget", "sms", "whatsapp", "voice")


@dataclasses.dataclass
class AgentFigures:
    agent_id: uuid.UUID
    name: str
    conversations: dict[str, int]
    call_seconds: int = 0
    leads: int = 0
    outcomes: dict[str, int] = dataclasses.field(default_factory=dict)


async def figures(db: Executor, scope: Scope, start: datetime.datetime,
                  end: datetime.datetime) -> list[AgentFigures]:
    """One entry per assigned agent (zeros included), in the agents' order."""
    found = {a.id: AgentFigures(a.id, a.name, dict.fromkeys(CHANNELS, 0)) for a in await agents(db, scope)}
    args = (scope.customer_id, scope.business_id, scope.agent_id, start, end)
    for r in await db.fetch(f"{CONVERSATIONS} SELECT agent_id, channel, count(*) AS n FROM conv"
                            " WHERE started_at >= $4 AND started_at < $5 GROUP BY agent_id, channel", *args):
        found[r["agent_id"]].conversations[r["channel"]] = r["n"]
    for r in await db.fetch(f"WITH {MINE} SELECT c.agent_id, sum(coalesce(c.duration_seconds, 0)) AS s FROM calls c"
                            " JOIN mine ON mine.agent_id = c.agent_id WHERE c.business_id = $2"
                            " AND c.started_at >= $4 AND c.started_at < $5 GROUP BY c.agent_id", *args):
        found[r["agent_id"]].call_seconds = int(r["s"])
    for r in await db.fetch(f"WITH {MINE} SELECT o.agent_id, count(*) AS n FROM leads l JOIN conversation_outcomes o"
                            " ON o.id = l.conversation_id JOIN mine ON mine.agent_id = o.agent_id"
                            " WHERE l.business_id = $2 AND l.created_at >= $4 AND l.created_at < $5"
                            " GROUP BY o.agent_id", *args):
        found[r["agent_id"]].leads = r["n"]
    for r in await db.fetch(f"WITH {MINE} SELECT o.agent_id, o.analysis->>'outcome' AS outcome, count(*) AS n"
                            " FROM conversation_outcomes o JOIN mine ON mine.agent_id = o.agent_id"
                            " WHERE o.business_id = $2 AND o.analysis_status = 'analysed' AND o.ended_at >= $4"
                            " AND o.ended_at < $5 AND o.analysis->>'outcome' IS NOT NULL"
                            " GROUP BY o.agent_id, outcome", *args):
        found[r["agent_id"]].outcomes[r["outcome"]] = r["n"]
    return list(found.values())
