"""The monthly rent job: charge each live number once per period, suspend the unpaid, resume the paid.

One run at a time across every process sharing the database (a session advisory lock,
tried, not waited for: a process that finds the job running skips its turn). Even without
the lock a period can't be charged twice: each number's charge runs under its row lock, the
debit's idempotency key is ``number_rent:{sid}:{period}`` and the paid-period counter moves
in the same commit as the debit.

A number whose wallet can't pay stays active for the configured grace after its rent fell
due, then is suspended (the voice and SMS webhooks see ``status = 'suspended'``: callers
hear a short message, texts get no reply); it is never released for non-payment. Every run
retries the unpaid period, oldest first, so once the wallet has the money the number pays
its arrears and is resumed.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid

import asyncpg
import structlog

from billing import ledger
from billing.cost_config import ProviderCostsConfig
from billing.errors import InsufficientFunds
from billing.ledger import EntryKind
from billing.money import Money, parse_currency
from billing.provider_costs import number_cost
from billing.usage_details import Unit, UsageDetail
from phone_numbers import periods, registry
from phone_numbers.config import NumbersConfig
from storage.executor import Executor
from storage.transactions import transaction

log = structlog.get_logger(__name__)

# Arbitrary but fixed, and different from the migrations' key: the lock every process agrees on.
RENT_LOCK_KEY = 6_021_914_200_600_026
ACTOR = "job:number_rent"


@dataclasses.dataclass
class RentRun:
    """What one run did: periods charged, numbers suspended and resumed, numbers left unpaid."""

    charged: int = 0
    suspended: int = 0
    resumed: int = 0
    unpaid: int = 0


async def run_rent(pool: asyncpg.Pool, config: NumbersConfig, *, now: datetime.datetime,
                   costs: ProviderCostsConfig = ProviderCostsConfig()) -> RentRun | None:
    """Charge every number whose paid months ran out by `now`.

    Returns:
        What the run did, or None when another process holds the job's lock (it skipped).
    """
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RENT_LOCK_KEY):
            return None
        try:
            run = RentRun()
            for number_id in await registry.rent_due(conn, now):
                await charge_number(conn, config, number_id, now=now, run=run, costs=costs)
            if run != RentRun():
                log.info("rent_run", **dataclasses.asdict(run))
            return run
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", RENT_LOCK_KEY)


async def charge_number(db: Executor, config: NumbersConfig, number_id: uuid.UUID, *, now: datetime.datetime,
                        run: RentRun, costs: ProviderCostsConfig = ProviderCostsConfig()) -> None:
    """Charge this number's periods that have started by `now`, oldest first, one commit each
    (each recording what the month costs us at Twilio).

    Stops at the first period the wallet can't pay, suspending the number once that period's
    grace is over.
    """
    grace = datetime.timedelta(days=config.rent_grace_days)
    while True:
        async with transaction(db) as conn:
            number = await registry.lock_number(conn, number_id)
            if (number is None or number.status == "released" or number.twilio_sid is None
                    or number.rent_anchor is None or number.rent_paid_through is None
                    or number.rent_paid_through > now or number.monthly_cost <= 0):
                return
            due = number.rent_paid_through
            try:
                await ledger.debit(
                    conn, business_id=number.business_id,
                    amount=Money(number.monthly_cost, parse_currency(number.currency)), kind=EntryKind.NUMBER_RENT,
                    idempotency_key=periods.rent_key(number.twilio_sid, due),
                    reference=f"number:{number.phone_number}:{periods.period_label(due)}", actor=ACTOR,
                    detail=UsageDetail(1, Unit.MONTHS, number_cost(number.country_code, number.number_type, costs)))
            except InsufficientFunds:
                run.unpaid += 1
                if number.status == "active" and periods.grace_over(due, grace, now):
                    await registry.suspend(conn, number.id, now)
                    run.suspended += 1
                    log.warning("number_suspended", number_id=str(number.id), phone_number=number.phone_number,
                                due=due.isoformat())
                return
            paid = number.rent_periods_paid + 1
            await registry.record_rent_paid(conn, number.id, periods_paid=paid,
                                            paid_through=periods.period_start(number.rent_anchor, paid))
            run.charged += 1
            if number.status == "suspended":
                run.resumed += 1
                log.info("number_resumed", number_id=str(number.id), phone_number=number.phone_number)
