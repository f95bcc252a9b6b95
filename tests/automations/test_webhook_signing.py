"""Signatures by the standard library, checked by `standardwebhooks` (an independent implementation); rotation."""

from __future__ import annotations

import datetime
import random

import asyncpg
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from automations import webhook_endpoints
from automations.webhook_endpoints import new_secret
from automations.webhook_signing import SCHEDULE, headers, parse_retry_after, retry_delay
from tests.automations.webhook_world import world
from tests.conftest import MakeBusiness


def test_a_signature_verifies_with_standardwebhooks_and_not_with_another_secret() -> None:
    secret, body = new_secret(), b'{"type":"form.submitted","timestamp":"2026-12-01T12:00:00Z","data":{}}'
    now = int(datetime.datetime.now(datetime.UTC).timestamp())
    signed = headers([secret], "msg_1", now, body)
    assert Webhook(secret).verify(body, signed)["type"] == "form.submitted"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, signed)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", signed)


def test_a_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 44
    assert secret != new_secret()


def test_two_secrets_give_two_space_separated_v1_entries_each_verifying() -> None:
    old, new = new_secret(), new_secret()
    now = int(datetime.datetime.now(datetime.UTC).timestamp())
    signed = headers([new, old], "msg_2", now, b"{}")
    entries = signed["webhook-signature"].split(" ")
    assert len(entries) == 2 and all(e.startswith("v1,") for e in entries)
    Webhook(old).verify(b"{}", signed)
    Webhook(new).verify(b"{}", signed)


def test_the_jitter_stays_within_twenty_percent_and_the_schedule_ends() -> None:
    rng = random.Random(3)
    for attempt, planned in enumerate(SCHEDULE, start=1):
        for _ in range(200):
            delay = retry_delay(attempt, rng=rng)
            assert delay is not None and planned * 0.8 <= delay <= planned * 1.2
    assert retry_delay(len(SCHEDULE) + 1) is None


def test_retry_after_is_a_floor_clamped_to_a_day() -> None:
    assert retry_delay(1, retry_after=120, rng=random.Random(1)) == datetime.timedelta(seconds=120)
    assert retry_delay(1, retry_after=10**7) == datetime.timedelta(hours=24)
    now = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)
    assert parse_retry_after("Tue, 01 Dec 2026 12:01:00 GMT", now) == 60.0
    assert parse_retry_after("soon", now) is None


async def test_after_rotation_both_secrets_sign_for_24_hours_then_only_the_new(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    async with world(pool, tenant.business_id) as w:
        endpoint = await w.endpoint("/ok")
        new = await webhook_endpoints.rotate_secret(pool, endpoint.id, tenant.business_id, now=w.clock())
        assert new is not None and new != endpoint.secret
        await w.submit()
        await w.runner.run_once()
        (first,) = w.receiver.received
        assert first.verify_now(endpoint.secret) and first.verify_now(new)
        w.clock.advance(hours=24, seconds=1)
        await w.submit()
        await w.runner.run_once()
        second = w.receiver.received[1]
        assert second.verifies(new) and not second.verifies(endpoint.secret)
        assert len(second.headers["webhook-signature"].split(" ")) == 1
