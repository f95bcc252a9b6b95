"""The reconciler: texts Twilio took whose final status never came back are looked up in its Messages API.

A status callback can be lost (our server down when Twilio posted, a proxy in the way, a
carrier that never reports), and a campaign stays `sending`, its hold reserved, while any of
its texts is. So `[sms] reconcile_after_minutes` (an hour) after a text was sent with a sid
and no final status, the reconciler asks Twilio for it (``GET Messages/{sid}.json``) and
applies the answer through the same forward-only path as a callback (`delivery.apply`,
event source `reconciler`): a status not ahead of ours changes nothing, 21610 is an opt-out,
30005/30006 mark the phone. A campaign whose last open text so becomes final completes and
releases its hold at once.

A text Twilio still calls `queued` or `sent` is looked up again when it is twice as old as at
the last look (1 h, 2 h, 4 h ... after sending), so a carrier that never sends delivery
receipts costs about seven lookups per text, not one per run; after
`reconcile_give_up_hours` (72) it is left as Twilio last described it. (Twilio fails a text
it could not hand on within its validity period, at most 10 hours, so a `sending` text that
old is one Twilio no longer has: a 20404, logged.)

Once across processes: each run marks the texts it is about to look up (`checked_at`) in a
short `FOR UPDATE SKIP LOCKED` transaction, so a second run at the same time takes other
texts or none, and each text is looked up once per due time.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import Final

import asyncpg
import structlog

from billing.money import Currency
from jobs.queue import Job
from jobs.runner import Clock
from messaging import campaigns, delivery
from messaging.config import SmsConfig
from phone_numbers.carrier import CarrierError, PhoneCarrier
from storage.executor import Executor

log = structlog.get_logger(__name__)

RECONCILE_KIND: Final = "messaging.reconcile"
RECONCILE_SCHEDULE: Final = "*/10 * * * *"
BATCH: Final = 100
# Lookups in flight at once: Twilio's API allows far more; this keeps a backlog from crowding the dispatcher.
CONCURRENCY: Final = 8

_PICK: Final = """
UPDATE sms_outbox SET checked_at = $1 WHERE id IN (
  SELECT id FROM sms_outbox
   WHERE message_sid IS NOT NULL AND status IN ('sending', 'sent') AND send_started_at <= $2 AND send_started_at > $3
     AND (checked_at IS NULL OR $1 - checked_at >= checked_at - send_started_at)
   ORDER BY send_started_at LIMIT $4 FOR UPDATE SKIP LOCKED)
RETURNING id, message_sid, campaign_id
"""


class Reconciler:
    """Looks up open texts in Twilio and applies what it says; `run` is one pass over everything due."""

    def __init__(self, pool: asyncpg.Pool, carrier: PhoneCarrier, config: SmsConfig, currency: Currency, *,
                 clock: Clock) -> None:
        self._pool, self._carrier, self._config, self._currency = pool, carrier, config, currency
        self._clock = clock
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def run(self, *, batch: int = BATCH) -> int:
        """Look up every text due now, `batch` at a time; returns how many changed."""
        changed = 0
        while True:
            picked = await _pick(self._pool, self._config, now=self._clock(), limit=batch)
            results = await asyncio.gather(*(self._settle(r["id"], r["message_sid"]) for r in picked))
            changed += sum(results)
            for campaign_id in sorted({r["campaign_id"] for r, done in zip(picked, results, strict=True)
                                       if done and r["campaign_id"] is not None}):
                if await campaigns.finish_if_done(self._pool, campaign_id):
                    log.info("campaign_completed", campaign_id=str(campaign_id), by="reconciler")
            if len(picked) < batch:
                return changed

    async def _settle(self, message_id: uuid.UUID, sid: str) -> bool:
        async with self._slots:
            try:
                found = await self._carrier.fetch_message(sid)
            except CarrierError as exc:
                log.warning("sms_reconcile_lookup_failed", message_id=str(message_id), sid=sid, error=str(exc))
                return False
        if found is None:
            log.warning("sms_reconcile_unknown_sid", message_id=str(message_id), sid=sid)
            return False
        return await delivery.apply(
            self._pool, delivery.Callback(message_id, sid, found.status, found.error_code, source="reconciler"),
            price_per_segment=self._config.price_per_segment_minor, currency=self._currency, now=self._clock())

    async def __call__(self, job: Job) -> None:
        """`messaging.reconcile`, every ten minutes."""
        changed = await self.run()
        if changed:
            log.info("sms_reconciled", changed=changed)


async def _pick(db: Executor, config: SmsConfig, *, now: datetime.datetime, limit: int) -> list[asyncpg.Record]:
    """Mark up to `limit` texts due for a lookup as looked up now, and return them (oldest sent first)."""
    rows: list[asyncpg.Record] = await db.fetch(
        _PICK, now, now - datetime.timedelta(minutes=config.reconcile_after_minutes),
        now - datetime.timedelta(hours=config.reconcile_give_up_hours), limit)
    return rows
