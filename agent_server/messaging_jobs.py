"""The shell's side of the SMS outbox's upkeep jobs: `messaging.reconcile` and `messaging.retention`.

The reconciler looks texts up in Twilio, so it is handled and scheduled only where the
Twilio account is configured (as the dispatcher, which sent them, only runs there); its
client lives as long as the runner. Retention needs only the database and always runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from agent_server.config import Settings
from billing.money import parse_currency
from jobs.runner import Clock, Handler, Recurring, utc_now
from jobs.schedule import Schedule
from messaging.reconciler import RECONCILE_KIND, RECONCILE_SCHEDULE, Reconciler
from messaging.retention import RETENTION_KIND, RETENTION_SCHEDULE, SmsRetention


def _twilio_configured(settings: Settings) -> bool:
    return bool(settings.twilio.account_sid and settings.twilio.auth_token)


@contextlib.asynccontextmanager
async def handlers(settings: Settings, pool: asyncpg.Pool, *,
                   clock: Clock = utc_now) -> AsyncIterator[dict[str, Handler]]:
    """Retention always; the reconciler (and its Twilio client, closed after) when Twilio is configured."""
    found: dict[str, Handler] = {RETENTION_KIND: SmsRetention(pool, settings.sms, clock=clock)}
    if not _twilio_configured(settings):
        yield found
        return
    from phone_numbers.twilio_carrier import TwilioCarrier

    carrier = TwilioCarrier(settings.twilio.account_sid, settings.twilio.auth_token, settings.twilio.api_base)
    try:
        found[RECONCILE_KIND] = Reconciler(pool, carrier, settings.sms, parse_currency(settings.billing.currency),
                                           clock=clock)
        yield found
    finally:
        await carrier.aclose()


def recurring(settings: Settings) -> tuple[Recurring, ...]:
    """Retention daily; the reconciler every ten minutes where Twilio is configured."""
    jobs: tuple[Recurring, ...] = (Recurring(RETENTION_KIND, Schedule.parse(RETENTION_SCHEDULE)),)
    if _twilio_configured(settings):
        jobs += (Recurring(RECONCILE_KIND, Schedule.parse(RECONCILE_SCHEDULE)),)
    return jobs
