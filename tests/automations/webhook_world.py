"""Endpoints for the webhook tests, written straight to the table (the API's own tests create them by HTTP)."""

from __future__ import annotations

import datetime
import uuid

from automations import webhook_endpoints
from storage.executor import Executor

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)


async def endpoint(db: Executor, business_id: uuid.UUID, url: str = "https://hooks.example.com/in", *,
                   event_types: tuple[str, ...] = ("form.submitted",), form_ids: tuple[uuid.UUID, ...] = (),
                   enabled: bool = True) -> webhook_endpoints.Endpoint:
    created, _ = await webhook_endpoints.create(db, business_id, url=url, event_types=event_types,
                                                form_ids=form_ids, enabled=enabled, now=NOW)
    return created
