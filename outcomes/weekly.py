"""The weekly summary: Mondays 09:00 in the business's timezone, the last 7 days per channel against the week before.

An hourly job looks for the businesses where it is now Monday, 09:xx, and queues one email
per member who wants it, with the dedupe key business + recipient + ISO week: a second run
in the same week (another process, a retry) queues nothing. Spend comes from the ledger
(`billing.usage.usage_report`), the rest from the conversations, calls, messages and leads.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
import zoneinfo
from collections import Counter
from typing import Any

from billing.usage import usage_report
from jobs.queue import Job
from jobs.runner import Clock
from outcomes import notifications, unsubscribe
from storage.executor import Executor

WEEKLY_KIND = "outcomes.weekly_summary"
WEEKLY_SCHEDULE = "0 * * * *"
SEND_WEEKDAY, SEND_HOUR = 0, 9  # Monday, 09:00 local
TOP_TOPICS = 5
FIGURES = ("conversations", "messages", "calls", "call_minutes", "tokens", "leads")


@dataclasses.dataclass(frozen=True)
class Week:
    """One business's figures for `[start, end)`: per channel, the spend per currency, the top topics."""

    start: datetime.datetime
    end: datetime.datetime
    channels: dict[str, dict[str, int]]
    spend: dict[str, int]
    topics: list[tuple[str, int]]


def zone(name: str) -> datetime.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return datetime.UTC


async def figures(db: Executor, business_id: uuid.UUID, start: datetime.datetime, end: datetime.datetime) -> Week:
    """What the business's channels did in `[start, end)`."""
    channels: dict[str, dict[str, int]] = {}

    def add(channel: str, figure: str, value: Any) -> None:
        channels.setdefault(channel, dict.fromkeys(FIGURES, 0))[figure] += int(value or 0)

    args = (business_id, start, end)
    for r in await db.fetch("SELECT channel, count(*) AS n, sum(prompt_tokens + completion_tokens) AS t"
                            " FROM conversation_outcomes WHERE business_id = $1 AND ended_at >= $2 AND ended_at < $3"
                            " GROUP BY channel", *args):
        add(r["channel"], "conversations", r["n"])
        add(r["channel"], "tokens", r["t"])
    for r in await db.fetch("SELECT count(*) AS n, sum(m.prompt_tokens + m.completion_tokens) AS t"
                            " FROM widget_messages m JOIN widget_conversations c ON c.id = m.conversation_id"
                            " WHERE c.business_id = $1 AND m.created_at >= $2 AND m.created_at < $3", *args):
        add("widget", "messages", r["n"])
        add("widget", "tokens", r["t"])
    for r in await db.fetch("SELECT CASE WHEN from_number LIKE 'whatsapp:%' OR to_number LIKE 'whatsapp:%'"
                            " THEN 'whatsapp' ELSE 'sms' END AS channel, count(*) AS n,"
                            " sum(prompt_tokens + completion_tokens) AS t FROM sms_messages"
                            " WHERE business_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1", *args):
        add(r["channel"], "messages", r["n"])
        add(r["channel"], "tokens", r["t"])
    for r in await db.fetch("SELECT count(*) AS n, sum(coalesce(duration_seconds, 0)) AS s FROM calls"
                            " WHERE business_id = $1 AND started_at >= $2 AND started_at < $3", *args):
        add("call", "calls", r["n"])
        add("call", "call_minutes", round((r["s"] or 0) / 60))
    for r in await db.fetch("SELECT channel, count(*) AS n FROM leads WHERE business_id = $1 AND created_at >= $2"
                            " AND created_at < $3 GROUP BY channel", *args):
        add(r["channel"], "leads", r["n"])
    spend: dict[str, int] = {}
    for period in await usage_report(db, business_id, start=start, end=end, group="month"):
        spend[period.currency] = spend.get(period.currency, 0) + sum(period.totals.values())
    topics: Counter[str] = Counter()
    for r in await db.fetch("SELECT analysis->'topics' AS topics FROM conversation_outcomes WHERE business_id = $1"
                            " AND ended_at >= $2 AND ended_at < $3 AND analysis_status = 'analysed'", *args):
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


async def send_due(db: Executor, *, now: datetime.datetime, public_url: str, secret: bytes) -> int:
    """Queue this hour's summaries (businesses where it is Monday 09:xx); returns how many emails were queued.

    Each carries its recipient's one-click unsubscribe link under `public_url`, signed with `secret`.
    """
    queued = 0
    for business in await db.fetch("SELECT id, timezone FROM businesses WHERE status = 'active'"):
        local = now.astimezone(zone(business["timezone"]))
        if (local.weekday(), local.hour) != (SEND_WEEKDAY, SEND_HOUR):
            continue
        end = local.replace(minute=0, second=0, microsecond=0).astimezone(datetime.UTC)
        this = await figures(db, business["id"], end - datetime.timedelta(days=7), end)
        before = await figures(db, business["id"], end - datetime.timedelta(days=14), end - datetime.timedelta(days=7))
        year, week, _ = local.isocalendar()
        values = {"week": f"{year}-W{week:02d}", "rows": _rows(this, before),
                  "spend": sorted(this.spend.items()), "spend_before": dict(before.spend), "topics": this.topics}
        queued += len(await notifications.notify(
            db, business["id"], "weekly_summary", "weekly_summary", values,
            event_key=f"{business['id']}:{year}-W{week:02d}", now=now,
            headers_for=unsubscribe.Links(public_url, secret).for_event(business["id"], "weekly_summary")))
    return queued


class WeeklySummary:
    """`outcomes.weekly_summary`, hourly: the summaries due this hour."""

    def __init__(self, db: Executor, *, public_url: str, secret: bytes, clock: Clock) -> None:
        self._db = db
        self._public_url = public_url
        self._secret = secret
        self._clock = clock

    async def __call__(self, job: Job) -> None:
        await send_due(self._db, now=self._clock(), public_url=self._public_url, secret=self._secret)
