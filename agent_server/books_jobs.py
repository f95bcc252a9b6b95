"""The shell's side of the books: the daily reconciliation with Stripe on the job runner, when Stripe is configured.

Without STRIPE_SECRET_KEY there is nothing to reconcile against, so the kind is neither
handled nor scheduled (a job that could only fail would retry forever).
"""

from __future__ import annotations

import asyncpg

from agent_server.config import Settings
from billing.daily_reconciliation import RECONCILE_KIND, RECONCILE_SCHEDULE, DailyReconciliation
from jobs.runner import Handler, Recurring
from jobs.schedule import Schedule


def handlers(settings: Settings, pool: asyncpg.Pool) -> dict[str, Handler]:
    """The `billing.reconcile_daily` handler, or none when payments are not configured."""
    if not settings.stripe.secret_key:
        return {}
    return {RECONCILE_KIND: DailyReconciliation(pool, settings.stripe)}


def recurring(settings: Settings) -> tuple[Recurring, ...]:
    """Every day at 00:30 UTC, the previous day; nothing when payments are not configured."""
    if not settings.stripe.secret_key:
        return ()
    return (Recurring(RECONCILE_KIND, Schedule.parse(RECONCILE_SCHEDULE)),)
