"""The campaign job: every minute it starts due scheduled campaigns, resumes ones a top-up can now pay, completes the rest.

One job kind on the PostgreSQL job runner (`* * * * *`): every runner ticks, but the
schedule row lets one of them enqueue each minute's job, and each start locks its campaign
row and checks it is still `scheduled` and due, so two runners (or a runner and a dashboard
"send now") never start a campaign twice. A campaign starts within about a minute of its
`sendAt`. One that can no longer reach anyone, or whose numbers can no longer text, goes
back to `draft` with that reason (`EMPTY_AUDIENCE`, `NUMBER_NOT_SMS_CAPABLE`) for someone
to fix and schedule again; nothing is sent.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Final

import asyncpg
import structlog

from billing.money import Currency
from jobs.queue import Job
from jobs.runner import Clock
from messaging import campaigns
from messaging.campaign_funds import resume_all_funded
from messaging.campaign_start import start
from messaging.config import SmsConfig
from messaging.errors import NumberNotSmsCapable
from storage.executor import Executor

log = structlog.get_logger(__name__)

CAMPAIGN_TICK_KIND: Final = "messaging.campaigns"
CAMPAIGN_TICK_SCHEDULE: Final = "* * * * *"
BATCH: Final = 100


async def start_due(db: Executor, config: SmsConfig, currency: Currency, *,
                    now: datetime.datetime) -> list[uuid.UUID]:
    """Start every scheduled campaign due by `now`; returns the ones this call started."""
    started: list[uuid.UUID] = []
    tried: set[uuid.UUID] = set()
    while True:
        rows = [r for r in await db.fetch(
            "SELECT id, business_id FROM campaigns WHERE status = 'scheduled' AND send_at <= $1"
            " ORDER BY send_at, id LIMIT $2", now, BATCH + len(tried)) if r["id"] not in tried]
        if not rows:
            return started
        for row in rows:
            tried.add(row["id"])
            if await _start_one(db, row["business_id"], row["id"], config, currency, now=now):
                started.append(row["id"])


async def _start_one(db: Executor, business_id: uuid.UUID, campaign_id: uuid.UUID, config: SmsConfig,
                     currency: Currency, *, now: datetime.datetime) -> bool:
    try:
        summary = await start(db, business_id, campaign_id, config, currency, now=now, scheduled=True)
    except campaigns.CampaignNotEditable:
        return False  # started by another runner or sent by hand meanwhile, or moved to a later time
    except (campaigns.EmptyAudience, NumberNotSmsCapable) as exc:
        reason = "EMPTY_AUDIENCE" if isinstance(exc, campaigns.EmptyAudience) else "NUMBER_NOT_SMS_CAPABLE"
        await db.execute("UPDATE campaigns SET status = 'draft', pause_reason = $2 WHERE id = $1"
                         " AND status = 'scheduled'", campaign_id, reason)
        log.warning("campaign_not_started", campaign_id=str(campaign_id), reason=reason)
        return False
    log.info("campaign_started", campaign_id=str(campaign_id), recipients=summary["recipients"])
    return True


async def finish_done(db: Executor) -> list[uuid.UUID]:
    """Complete every sending campaign with nothing left queued or in flight."""
    finished = []
    for row in await db.fetch("SELECT id FROM campaigns WHERE status = 'sending'"):
        if await campaigns.finish_if_done(db, row["id"]):
            finished.append(row["id"])
    return finished


class CampaignTick:
    """`messaging.campaigns`: due scheduled campaigns started, ones paused for money resumed when it came, finished
    ones completed (their holds released)."""

    def __init__(self, pool: asyncpg.Pool, config: SmsConfig, currency: Currency, *, clock: Clock) -> None:
        self._pool, self._config, self._currency, self._clock = pool, config, currency, clock

    async def __call__(self, job: Job) -> None:
        now = self._clock()
        await start_due(self._pool, self._config, self._currency, now=now)
        resumed = await resume_all_funded(self._pool, self._config.price_per_segment_minor, self._currency, now=now)
        if resumed:
            log.info("campaigns_resumed", campaigns=[str(c) for c in resumed], reason="wallet topped up")
        await finish_done(self._pool)
