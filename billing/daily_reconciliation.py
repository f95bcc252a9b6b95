"""The daily reconciliation with Stripe as one run: missed webhooks first, then the previous UTC day's balance.

`run_daily` is what both the `billing.reconcile_daily` job (every day at 00:30 UTC, once
across every process: the runner's schedule row and dedupe key) and `agent-server books
reconcile` do. Missed webhooks come first (`billing.reconcile`, Stripe's event list of the
last `EVENTS_LOOKBACK`), so an event that is only late is booked through the webhook's own
keyed transaction instead of being reported as missing money. Each event booked that way is
itself a finding, `missing_in_ledger` with subject ``event:evt_…`` under the day Stripe
created it, so a webhook endpoint that drops events shows up (nothing is changed silently);
then the day's balance transactions are matched (`billing.balance_reconciliation`). Every
finding is stored once, however many times or in however many processes a day is run.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import asyncpg
import structlog

from billing.balance_reconciliation import DayReport, Finding, reconcile_day, record_findings
from billing.config import StripeConfig
from billing.payments import PaymentsProvider, StripePayments
from billing.reconcile import ReconcileReport, reconcile
from billing.stripe_events import Outcome
from jobs.queue import Job

log = structlog.get_logger(__name__)

RECONCILE_KIND = "billing.reconcile_daily"
# 00:30 UTC: half an hour for the previous day's last balance transactions to be listed.
RECONCILE_SCHEDULE = "30 0 * * *"
# How far back Stripe's event list is read for missed webhooks (Stripe retries for 3 days).
EVENTS_LOOKBACK = datetime.timedelta(hours=72)
# Outcomes that moved money: a missed event that only changed a status is not a finding.
_BOOKED = frozenset({Outcome.CREDITED, Outcome.REFUNDED, Outcome.DISPUTED})


@dataclass(frozen=True, slots=True)
class DailyReport:
    """One run: the missed webhooks booked, and the day's match with its new findings (missed ones first)."""

    missed: ReconcileReport
    day: DayReport


def _utc_day(created: int) -> datetime.date:
    return datetime.datetime.fromtimestamp(created, datetime.UTC).date()


async def run_daily(pool: asyncpg.Pool, payments: PaymentsProvider, *, day: datetime.date,
                    now: datetime.datetime, dispute_fee_minor: int) -> DailyReport:
    """Book the events of the last `EVENTS_LOOKBACK` before `now` whose webhook never came, then match `day`."""
    since = int((now - EVENTS_LOOKBACK).timestamp())
    missed = await reconcile(pool, payments, since=since, dispute_fee_minor=dispute_fee_minor)
    booked: list[Finding] = []
    for event in missed.events:
        if event.outcome in _BOOKED:
            found = Finding("missing_in_ledger", f"event:{event.id}", None, None, None)
            booked += await record_findings(pool, _utc_day(event.created), [found])
    report = await reconcile_day(pool, payments, day)
    log.info("reconciliation_done", day=str(day), missed_webhooks=len(booked), listed=report.listed,
             findings=len(report.new))
    return DailyReport(missed, DayReport(report.day, report.listed, booked + report.new))


class DailyReconciliation:
    """The `billing.reconcile_daily` handler: the day before the job's due time, through a fresh Stripe client.

    A Stripe or database failure raises, so the runner retries the job on its backoff.
    """

    def __init__(self, pool: asyncpg.Pool, config: StripeConfig) -> None:
        self._pool = pool
        self._config = config

    async def __call__(self, job: Job) -> None:
        due = datetime.datetime.fromisoformat(str(job.payload["due"]))
        payments = StripePayments(self._config)
        try:
            await run_daily(self._pool, payments, day=due.date() - datetime.timedelta(days=1), now=due,
                            dispute_fee_minor=self._config.dispute_fee_minor)
        finally:
            await payments.close()
