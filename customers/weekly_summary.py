"""The weekly summary a business's customers are mailed: their own agents' figures, in the members' template.

The business's hourly `outcomes.weekly_summary` job (the shell runs this after the members'
summaries) finds the businesses where it is Monday 09:xx (`outcomes.weekly.due_weeks`) and
queues one email per customer who is `active` (an invitation never taken up gets nothing), has
`weekly_summary_enabled` and at least one live assigned agent. The figures are the members'
aggregation (`outcomes.weekly.summary_values`) narrowed to those agents, without the spend; the
dedupe key is business + `customer:<id>` + ISO week, so a second run that week queues nothing.

Unsubscribe: each email carries a link signed for that customer alone; it clears
`weekly_summary_enabled` and nothing else. A GET of it only shows a confirmation page (mail
scanners prefetch links, so a GET changes nothing); the page's button, or a mail client's
RFC 8058 one-click POST, clears the flag. The link does not expire (a summary read months later
still unsubscribes); its MAC has its own key and context, so no other token of this server is
accepted as one, and staff can turn the summary on again (`PATCH /api/customers/{id}`).
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from urllib.parse import quote

import structlog

from mail import outbox
from mail.rendering import render
from outcomes import notifications, unsubscribe, weekly
from storage.executor import Executor

log = structlog.get_logger(__name__)

_CONTEXT = b"customers-weekly-summary-unsubscribe:"
UNSUBSCRIBE_PATH = "/api/customers/weekly-summary/unsubscribe"


@dataclasses.dataclass(frozen=True)
class Subscriber:
    """Whose summary a link turns off."""

    customer_id: uuid.UUID
    business_id: uuid.UUID


def token(secret: bytes, who: Subscriber) -> str:
    return unsubscribe.signed(secret, _CONTEXT, str(who.customer_id), str(who.business_id))


def read(secret: bytes, raw: str) -> Subscriber | None:
    """Whose summary the token turns off, or None when this server did not sign it for that."""
    fields = unsubscribe.signed_fields(secret, _CONTEXT, raw)
    if fields is None or len(fields) != 2:
        return None
    try:
        return Subscriber(uuid.UUID(fields[0]), uuid.UUID(fields[1]))
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class Links:
    """Where the unsubscribe links point (`public_url`, this server) and the key they are signed with."""

    public_url: str
    secret: bytes

    def url(self, who: Subscriber) -> str:
        return f"{self.public_url.rstrip('/')}{UNSUBSCRIBE_PATH}?token={quote(token(self.secret, who))}"

    def headers(self, who: Subscriber) -> dict[str, str]:
        """RFC 8058 headers: a mail client's one-click POST to the same link."""
        return {"List-Unsubscribe": f"<{self.url(who)}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


async def turn_off(db: Executor, who: Subscriber, *, now: datetime.datetime) -> bool:
    """Clear the customer's `weekly_summary_enabled`; False when the customer no longer exists."""
    done = await db.fetchval("UPDATE customers SET weekly_summary_enabled = false, updated_at = $3"
                             " WHERE id = $1 AND business_id = $2 RETURNING id", who.customer_id, who.business_id, now)
    return done is not None


async def send_due(db: Executor, *, now: datetime.datetime, links: Links) -> int:
    """Queue this hour's customer summaries; returns how many emails were queued (0 on a second run that week)."""
    queued = 0
    for due in await weekly.due_weeks(db, now=now):
        readers = await db.fetch(
            "SELECT c.id, c.email, array_agg(g.id ORDER BY g.name, g.id) AS agent_ids,"
            " array_agg(g.name ORDER BY g.name, g.id) AS agent_names FROM customers c"
            " JOIN customer_agent_assignments a ON a.customer_id = c.id"
            " JOIN agents g ON g.id = a.agent_id AND g.business_id = c.business_id AND g.deleted_at IS NULL"
            " WHERE c.business_id = $1 AND c.status = 'active' AND c.weekly_summary_enabled"
            " GROUP BY c.id ORDER BY c.created_at, c.id", due.business_id)
        if not readers:
            continue
        name = await notifications.business_name(db, due.business_id)
        for reader in readers:
            who = Subscriber(reader["id"], due.business_id)
            values = await weekly.summary_values(db, due, agent_ids=reader["agent_ids"])
            content = render("weekly_summary", {**values, "business_name": name, "agents": reader["agent_names"],
                                                "unsubscribe_url": links.url(who)})
            try:
                outbox_id = await outbox.enqueue(
                    db, content, recipient=reader["email"], business_id=due.business_id, now=now,
                    dedupe_key=f"weekly_summary:{due.business_id}:customer:{reader['id']}:{due.label}",
                    headers=links.headers(who))
            except ValueError as exc:
                log.error("customer_summary_not_queued", customer_id=str(reader["id"]), error=str(exc))
                continue
            queued += outbox_id is not None
    return queued
