"""The weekly summary: Mondays 09:00 in the business's timezone, the last 7 days per channel against the week before.

An hourly job looks for the businesses where it is now Monday, 09:xx, and queues one email
per member who wants it, with the dedupe key business + recipient + ISO week: a second run
in the same week (another process, a retry) queues nothing. Spend comes from the ledger
(`billing.usage.usage_report`), the rest from the conversations, calls, messages and leads.

The same aggregation, narrowed to a set of agents, is what a business's customer is mailed
(`customers.weekly_summary`): `figures(..., agent_ids=...)` counts only those agents' rows
and leaves the spend out (the ledger is the business's, not attributable to an agent, and a
client has no business seeing its supplier's costs); the template hides a missing spend.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
import zoneinfo
from collections import Counter
from collections.abc import Collection
from typing import Any

from billing.usage import usage_report
from outcomes import notifications, unsubscribe
from storage.executor import Executor

WEEKLY_KIND = "outcomes.weekly_summary"
WEEKLY_SCHEDULE = "0 * * * *"
SEND_WEEKDAY, SEND_HOUR = 0, 9  # Monday, 09:00 local
TOP_TOPICS = 5
FIGURES = ("conversations", "messages", "calls", "call_minutes", "tokens", "leads")


@dataclasses.dataclass(frozen=True)
class Week:
    """One business's figures for `[start, end)`: per channel, the spend per currency (None: some agents' figures
    only), the top topics."""

    start: datetime.datetime
    end: datetime.datetime
    channels: dict[str, dict[str, int]]
    spend: dict[str, int] | None
    topics: list[tuple[str, int]]


@dataclasses.dataclass(frozen=True)
class DueWeek:
    """A business whose summary is due this hour: the week ends at `end` (09:00 local), named `label` (2026-W50)."""

    business_id: uuid.UUID
    end: datetime.datetime
    label: str


def zone(name: str) -> datetime.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return datetime.UTC


async def figures(db: Executor, business_id: uuid.UUID, start: datetime.datetime, end: datetime.datetime, *,
                  agent_ids: Collection[uuid.UUID] | None = None) -> Week:
    """What the business's channels did in `[start, end)`; with `agent_ids`, only those agents' (no spend)."""
    channels: dict[str, dict[str, int]] = {}

    def add(channel: str, figure: str, value: Any) -> None:
        channels.setdefault(channel, dict.fromkeys(FIGURES, 0))[figure] += int(value or 0)

    # $4 NULL: every agent of the business (and rows whose agent was deleted).
    args = (business_id, start, end, None if agent_ids is None else list(agent_ids))
    for r in await db.fetch("SELECT channel, count(*) AS n, sum(prompt_tokens + completion_tokens) AS t"
                            " FROM conversation_outcomes WHERE business_id = $1 AND ended_at >= $2 AND ended_at < $3"
                            " AND ($4::uuid[] IS NULL OR agent_id = ANY($4)) GROUP BY channel", *args):
        add(r["channel"], "conversations", r["n"])
        add(r["channel"], "tokens", r["t"])
    for r in await db.fetch("SELECT count(*) AS n, sum(m.prompt_tokens + m.completion_tokens) AS t"
                            " FROM widget_messages m JOIN widget_conversations c ON c.id = m.conversation_id"
                            " WHERE c.business_id = $1 AND m.created_at >= $2 AND m.created_at < $3"
                            " AND ($4::uuid[] IS NULL OR c.agent_id = ANY($4))", *args):
        add("widget", "messages", r["n"])
        add("widget", "tokens", r["t"])
    for r in await db.fetch("SELECT CASE WHEN from_number LIKE 'whatsapp:%' OR to_number LIKE 'whatsapp:%'"
                            " THEN 'whatsapp' ELSE 'sms' END AS channel, count(*) AS n,"
                            " sum(prompt_tokens + completion_tokens) AS t FROM sms_messages"
                            " WHERE business_id = $1 AND created_at >= $2 AND created_at < $3"
                            " AND ($4::uuid[] IS NULL OR agent_id = ANY($4)) GROUP BY 1", *args):
        add(r["channel"], "messages", r["n"])
        add(r["channel"], "tokens", r["t"])
    for r in await db.fetch("SELECT count(*) AS n, sum(coalesce(duration_seconds, 0)) AS s FROM calls"
                            " WHERE business_id = $1 AND started_at >= $2 AND started_at < $3"
                            " AND ($4::uuid[] IS NULL OR agent_id = ANY($4))", *args):
        add("call", "calls", r["n"])
        add("call", "call_minutes", round((r["s"] or 0) / 60))
    for r in await db.fetch("SELECT l.channel, count(*) AS n FROM leads l JOIN conversation_outcomes o"
                            " ON o.id = l.conversation_id WHERE l.business_id = $1 AND l.created_at >= $2"
                            " AND l.created_at < $3 AND ($4::uuid[] IS NULL OR o.agent_id = ANY($4))"
                            " GROUP BY l.channel", *args):
        add(r["channel"], "leads", r["n"])
    spend: dict[str, int] | None = None
    if agent_ids is None:
        spend = {}
        for period in await usage_report(db, business_id, start=start, end=end, group="month"):
            spend[period.currency] = spend.get(period.currency, 0) + sum(period.totals.values())
    topics: Counter[str] = Counter()
    for r in await db.fetch("SELECT analysis->'topics' AS topics FROM conversation_outcomes WHERE business_id = $1"
                            " AND ended_at >= $2 AND ended_at < $3 AND analysis_status = 'analysed'"
                            " AND ($4::uuid[] IS NULL OR agent_id = ANY($4))", *args):
        topics.update(str(t).strip().lower() for t in (r["topics"] or []) if str(t).strip())
    return Week(start, end, channels, spend, topics.most_common(TOP_TOPICS))


def _rows(this: Week, before: Week) -> list[dict[str, Any]]:
    rows = []
    for channel in sorted(set(this.channels) | set(before.channels)):
        now, then = this.channels.get(channel, {}), before.channels.get(channel, {})
        rows.append({"channel": channel, "figures": [
            {"name": f.replace("_", " "), "value": now.get(f, 0), "change": now.get(f, 0) - then.get(f, 0)}
            for f in FIGURES]})
    return rows


async def due_weeks(db: Executor, *, now: datetime.datetime) -> list[DueWeek]:
    """The active businesses where it is Monday 09:xx at `now`, with the week their summary covers."""
    due = []
    for business in await db.fetch("SELECT id, timezone FROM businesses WHERE status = 'active'"):
        local = now.astimezone(zone(business["timezone"]))
        if (local.weekday(), local.hour) != (SEND_WEEKDAY, SEND_HOUR):
            continue
        end = local.replace(minute=0, second=0, microsecond=0).astimezone(datetime.UTC)
        year, week, _ = local.isocalendar()
        due.append(DueWeek(business["id"], end, f"{year}-W{week:02d}"))
    return due


async def summary_values(db: Executor, due: DueWeek, *,
                         agent_ids: Collection[uuid.UUID] | None = None) -> dict[str, Any]:
    """The `weekly_summary` template's values for the week (and the week before, to compare), of `agent_ids` only
    when given; `spend` is None then."""
    week = datetime.timedelta(days=7)
    this = await figures(db, due.business_id, due.end - week, due.end, agent_ids=agent_ids)
    before = await figures(db, due.business_id, due.end - 2 * week, due.end - week, agent_ids=agent_ids)
    # `agents` and `unsubscribe_url` are a customer's (their agents' names, their own link); a member's email
    # names no agents and points to the dashboard's settings besides its List-Unsubscribe header.
    return {"week": due.label, "rows": _rows(this, before),
            "spend": None if this.spend is None else sorted(this.spend.items()),
            "spend_before": dict(before.spend or {}), "topics": this.topics, "agents": [], "unsubscribe_url": None}


async def send_due(db: Executor, *, now: datetime.datetime, public_url: str, secret: bytes) -> int:
    """Queue this hour's summaries to members (businesses where it is Monday 09:xx); returns how many were queued.

    Each carries its recipient's one-click unsubscribe link under `public_url`, signed with `secret`.
    """
    queued = 0
    for due in await due_weeks(db, now=now):
        values = await summary_values(db, due)
        queued += len(await notifications.notify(
            db, due.business_id, "weekly_summary", "weekly_summary", values,
            event_key=f"{due.business_id}:{due.label}", now=now,
            headers_for=unsubscribe.Links(public_url, secret).for_event(due.business_id, "weekly_summary")))
    return queued
