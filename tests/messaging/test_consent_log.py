"""Consent: the log can't be rewritten, deleted or truncated; marketing needs recorded consent unless turned off."""

from __future__ import annotations

import dataclasses
from typing import Any

import asyncpg
import pytest

from agent_server.config import Settings
from messaging import consent, contacts
from messaging.campaign_audience import Audience, recipients
from tests.conftest import MakeBusiness, MakeClient
from tests.messaging.conftest import Shop

BOB, CARA = "+14155550124", "+14155550125"


def without_consent(settings: Settings) -> Settings:
    return dataclasses.replace(settings, sms=dataclasses.replace(settings.sms, require_marketing_consent=False))


async def test_the_consent_log_refuses_update_delete_and_truncate(pool: asyncpg.Pool, shop: Shop) -> None:
    await consent.opt_out(pool, shop.business_id, BOB, source=consent.Source.KEYWORD)
    await consent.opt_in(pool, shop.business_id, BOB, source=consent.Source.KEYWORD)
    for statement in ("UPDATE consent_events SET action = 'opt_in'", "DELETE FROM consent_events",
                      "DELETE FROM consent_events WHERE action = 'opt_out'", "TRUNCATE consent_events",
                      "TRUNCATE consent_events CASCADE"):
        with pytest.raises(asyncpg.RestrictViolationError, match="consent_events is append-only"):
            await pool.execute(statement)
    assert [a for a, _, _ in await consent.history(pool, shop.business_id, BOB)] == ["opt_out", "opt_in"]


async def test_a_business_with_consent_history_cannot_be_deleted_with_it(pool: asyncpg.Pool,
                                                                          make_business: MakeBusiness) -> None:
    """Its rows would cascade away with it: refused like any delete (a business is suspended, never deleted)."""
    tenant = await make_business("No Money Yet")
    await consent.opt_out(pool, tenant.business_id, BOB, source=consent.Source.DASHBOARD)
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await pool.execute("DELETE FROM businesses WHERE id = $1", tenant.business_id)
    assert await pool.fetchval("SELECT count(*) FROM consent_events") == 1


async def post(client: Any, shop: Shop, path: str, status: int, body: dict[str, Any]) -> Any:
    resp = await client.post(path, json={"businessId": str(shop.business_id), **body}, headers=shop.headers)
    assert resp.status == status, await resp.text()
    return await resp.json()


@pytest.mark.parametrize("required", [True, False])
async def test_marketing_needs_recorded_consent_unless_the_operator_turns_it_off(
        make_client: MakeClient, settings: Settings, pool: asyncpg.Pool, shop: Shop, required: bool) -> None:
    """On (the default): a single send is 409 NO_CONSENT and a campaign skips the contact. Off: both go; opt-outs
    and transactional texts are unaffected either way."""
    client = await make_client(settings if required else without_consent(settings))
    bob = await contacts.create(pool, shop.business_id, contacts.NewContact(BOB, first_name="Bob"))
    cara = await contacts.create(pool, shop.business_id, contacts.NewContact(CARA, first_name="Cara"))
    await consent.opt_out(pool, shop.business_id, CARA, source=consent.Source.KEYWORD)
    single = {"contactId": str(bob.id), "body": "Spring sale!", "category": "marketing", "idempotencyKey": "k1"}
    if required:
        assert (await post(client, shop, "/api/sms/send", 409, single))["error"]["code"] == "NO_CONSENT"
    else:
        assert (await post(client, shop, "/api/sms/send", 202, single))["status"] == "queued"
    draft = await post(client, shop, "/api/campaigns", 201, {
        "name": "Spring", "template": "Hi {{firstName}}", "audience": {"contactIds": [str(bob.id), str(cara.id)]},
        "category": "marketing"})
    skipped = draft["estimate"]["skipped"]
    assert (draft["estimate"]["recipients"], skipped["noConsent"], skipped["optedOut"]) == (
        (0, 1, 1) if required else (1, 0, 1))
    found = await recipients(pool, shop.business_id, Audience(contact_ids=[bob.id]), "Hi", "marketing",
                             require_consent=required)
    assert [r.skip_reason for r in found] == (["no_consent"] if required else [None])
    sent = await post(client, shop, f"/api/campaigns/{draft['id']}/send", 422 if required else 202, {})
    assert sent.get("status", sent.get("error", {}).get("code")) == ("EMPTY_AUDIENCE" if required else "sending")
