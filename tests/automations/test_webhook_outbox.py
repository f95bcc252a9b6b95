"""The outbox: one message per subscribed endpoint, queued with its send job in the caller's transaction."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from automations import webhook_outbox
from automations.webhook_outbox import FORM_SUBMITTED, SEND_KIND
from storage.transactions import transaction
from tests.automations.webhook_world import NOW, endpoint
from tests.conftest import MakeBusiness


async def _messages(pool: asyncpg.Pool, business_id: uuid.UUID) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT endpoint_id, event_type, body, status FROM webhook_messages"
                            " WHERE business_id = $1 ORDER BY created_at", business_id)


async def test_one_message_and_one_job_per_matching_endpoint(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    form_id, other_form = uuid.uuid4(), uuid.uuid4()
    every_form = await endpoint(pool, tenant.business_id)
    this_form = await endpoint(pool, tenant.business_id, form_ids=(form_id,))
    await endpoint(pool, tenant.business_id, form_ids=(other_form,))
    await endpoint(pool, tenant.business_id, enabled=False)
    other_business = await make_business("Other")
    await endpoint(pool, other_business.business_id)

    queued = await webhook_outbox.enqueue(pool, business_id=tenant.business_id, event_type=FORM_SUBMITTED,
                                          data={"form_id": str(form_id), "submitted_data": {"name": "Ann"}},
                                          form_id=form_id, now=NOW)

    assert queued == 2
    rows = await _messages(pool, tenant.business_id)
    assert {r["endpoint_id"] for r in rows} == {every_form.id, this_form.id}
    assert rows[0]["body"] == rows[1]["body"]
    assert json.loads(rows[0]["body"]) == {"type": "form.submitted", "timestamp": "2026-12-01T12:00:00Z",
                                           "data": {"form_id": str(form_id), "submitted_data": {"name": "Ann"}}}
    jobs = await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = $1 AND business_id = $2",
                               SEND_KIND, tenant.business_id)
    assert jobs == 2


async def test_an_endpoint_filtered_to_forms_gets_no_formless_event(pool: asyncpg.Pool,
                                                                    make_business: MakeBusiness) -> None:
    tenant = await make_business()
    await endpoint(pool, tenant.business_id, form_ids=(uuid.uuid4(),))
    assert await webhook_outbox.enqueue(pool, business_id=tenant.business_id, event_type=FORM_SUBMITTED,
                                        data={}, now=NOW) == 0


async def test_a_rolled_back_transaction_leaves_no_message_and_no_job(pool: asyncpg.Pool,
                                                                       make_business: MakeBusiness) -> None:
    tenant = await make_business()
    await endpoint(pool, tenant.business_id)
    with pytest.raises(RuntimeError):
        async with transaction(pool) as conn:
            await webhook_outbox.enqueue(conn, business_id=tenant.business_id, event_type=FORM_SUBMITTED,
                                         data={}, now=NOW)
            raise RuntimeError("the submission failed")
    assert await _messages(pool, tenant.business_id) == []
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE business_id = $1", tenant.business_id) == 0
