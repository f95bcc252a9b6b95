"""Asking for a sign-in link by address (or with an expired link): the route queues a job, the job mails.

The route does the same work for a known, an unknown, a disabled and a throttled address (one
job row) and always gives the same answer, so neither the answer nor its time tells whether an
address is a customer. The `customers.send_links` job then mails one login link per business
where the address is a customer that isn't disabled (an invited customer who lost the invitation
may sign in too), and nothing otherwise. At most `links_per_address` links go to one address per
`link_minutes` window, counted from the links table under a per-address advisory lock (so two
jobs at once can't both take the last one); more are dropped silently.
"""

from __future__ import annotations

import datetime

import asyncpg
import structlog

from customers import links, records
from customers.config import CustomersConfig
from jobs import queue
from jobs.queue import Job
from jobs.runner import Clock, utc_now
from storage.executor import Executor
from storage.transactions import transaction

SEND_LINKS_KIND = "customers.send_links"

log = structlog.get_logger(__name__)


def normalise(email: str) -> str:
    return email.strip().lower()


async def request_by_email(db: Executor, email: str, *, now: datetime.datetime) -> None:
    await queue.enqueue(db, SEND_LINKS_KIND, {"email": normalise(email)}, now=now)


async def request_renewal(db: Executor, token: str, *, now: datetime.datetime) -> None:
    """Queue a fresh link for an expired one's customer (the job keeps only the token's hash)."""
    await queue.enqueue(db, SEND_LINKS_KIND, {"renew": links.token_hash(token).hex()}, now=now)


class SendLinks:
    """The `customers.send_links` handler."""

    def __init__(self, pool: asyncpg.Pool, config: CustomersConfig, *, clock: Clock = utc_now) -> None:
        self._pool = pool
        self._config = config
        self._clock = clock

    async def __call__(self, job: Job) -> None:
        renew = job.payload.get("renew")
        async with transaction(self._pool) as conn:
            if isinstance(renew, str):
                await self._renew(conn, bytes.fromhex(renew))
            else:
                await self._by_email(conn, normalise(str(job.payload.get("email", ""))))

    async def _renew(self, conn: Executor, digest: bytes) -> None:
        target = await links.renewal_target(conn, digest)
        if target is None:
            return
        customer = await records.find(conn, *target)
        if customer is not None:
            await self._within_limit(conn, customer.email, [customer])

    async def _by_email(self, conn: Executor, email: str) -> None:
        rows = await conn.fetch("SELECT business_id, id FROM customers WHERE email = $1 AND status <> 'disabled'"
                                " ORDER BY created_at, id", email)
        found = [await records.find(conn, r["business_id"], r["id"]) for r in rows]
        await self._within_limit(conn, email, [c for c in found if c is not None])

    async def _within_limit(self, conn: Executor, email: str, customers: list[records.Customer]) -> None:
        if not customers:
            return
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('customer-links:' || $1, 0))", email)
        recent = await conn.fetchval(
            "SELECT count(*) FROM customer_login_links l JOIN customers c ON c.id = l.customer_id"
            " WHERE c.email = $1 AND l.created_at > now() - make_interval(mins => $2)",
            email, self._config.link_minutes)
        room = max(0, self._config.links_per_address - recent)
        for customer in customers[:room]:
            await links.issue(conn, customer, "login", self._config, now=self._clock())
        if len(customers) > room:
            log.info("customer_links_throttled", dropped=len(customers) - room)

