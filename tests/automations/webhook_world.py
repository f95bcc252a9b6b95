"""Endpoints for the webhook tests, written straight to the table (the API's own tests create them by HTTP)."""

from __future__ import annotations

import contextlib
import datetime
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
from aiohttp.abc import AbstractResolver

from automations import webhook_endpoints, webhook_outbox
from automations.webhook_delivery import SendWebhook
from automations.webhook_http import guarded_session
from automations.webhook_outbox import FORM_SUBMITTED, SEND_KIND
from jobs.config import JobsConfig
from jobs.runner import Runner
from storage.executor import Executor
from tests.fake_webhook_receiver import FakeWebhookReceiver
from tests.jobs.clock import ManualClock

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)
# The knowledge base's allow-list, as its tests set it: the local receiver is reachable.
ALLOWED = ("127.0.0.1",)


async def endpoint(db: Executor, business_id: uuid.UUID, url: str = "https://hooks.example.com/in", *,
                   event_types: tuple[str, ...] = ("form.submitted",), form_ids: tuple[uuid.UUID, ...] = (),
                   enabled: bool = True) -> webhook_endpoints.Endpoint:
    created, _ = await webhook_endpoints.create(db, business_id, url=url, event_types=event_types,
                                                form_ids=form_ids, enabled=enabled, now=NOW)
    return created


class World:
    """A business, the receiver, an injected clock, and a runner that has only the webhook sender."""

    def __init__(self, pool: asyncpg.Pool, business_id: uuid.UUID, receiver: FakeWebhookReceiver,
                 clock: ManualClock, session: aiohttp.ClientSession, *, max_in_flight: int = 4,
                 timeout: float = 15.0, concurrency: int = 8, allowed: tuple[str, ...] = ALLOWED) -> None:
        self.pool = pool
        self.business_id = business_id
        self.receiver = receiver
        self.clock = clock
        self.sender = SendWebhook(pool, session, clock=clock, allowed_private_hosts=allowed,
                                  max_in_flight=max_in_flight, timeout=timeout, rng=random.Random(7))
        self.runner = Runner(pool, {SEND_KIND: self.sender},
                             JobsConfig(poll_interval_seconds=0.01, concurrency=concurrency), clock=clock)

    async def endpoint(self, path: str, **kwargs: Any) -> webhook_endpoints.Endpoint:
        return await endpoint(self.pool, self.business_id, self.receiver.url(path), **kwargs)

    async def submit(self, data: dict[str, Any] | None = None) -> int:
        return await webhook_outbox.enqueue(self.pool, business_id=self.business_id, event_type=FORM_SUBMITTED,
                                            data=data or {"form_id": "f1"}, now=self.clock())

    async def next_run_at(self) -> datetime.datetime | None:
        found: datetime.datetime | None = await self.pool.fetchval(
            "SELECT min(run_at) FROM jobs WHERE kind = $1 AND status = 'queued'", SEND_KIND)
        return found

    async def message(self) -> asyncpg.Record:
        row = await self.pool.fetchrow("SELECT * FROM webhook_messages WHERE business_id = $1"
                                       " ORDER BY created_at LIMIT 1", self.business_id)
        assert row is not None
        return row


@contextlib.asynccontextmanager
async def world(pool: asyncpg.Pool, business_id: uuid.UUID, *, resolver: AbstractResolver | None = None,
                allowed: tuple[str, ...] = ALLOWED, **kwargs: Any) -> AsyncIterator[World]:
    """The world on a clock that starts at the real time (so `verify_now` holds for a first attempt)."""
    async with (FakeWebhookReceiver() as receiver,
                guarded_session(allowed, user_agent="tests", resolver=resolver) as session):
        yield World(pool, business_id, receiver, ManualClock(datetime.datetime.now(datetime.UTC)), session,
                    allowed=allowed, **kwargs)
