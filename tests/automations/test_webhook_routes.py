"""The webhook API: endpoints with a secret shown once, the URL guard on save, messages, attempts, retry, test."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server.app import make_app
from agent_server.config import Settings
from agent_server.url_resolver import URL_RESOLVER
from automations import webhook_outbox
from automations.webhook_delivery import SendWebhook
from automations.webhook_http import guarded_session
from automations.webhook_outbox import FORM_SUBMITTED, SEND_KIND
from jobs.config import JobsConfig
from jobs.runner import Runner, utc_now
from tests.conftest import MakeBusiness, Tenant
from tests.fake_webhook_receiver import FakeWebhookReceiver
from tests.knowledge.test_url_guard import StubResolver

Client = TestClient[web.Request, web.Application]
DNS = {"hooks.example.test": ["93.184.216.34"], "loopback.test": ["127.0.0.1"], "lan.test": ["10.0.0.1"],
       "metadata.test": ["169.254.169.254"], "v6.test": ["::1"]}


async def _client(settings: Settings, aiohttp_client: Any, allowed: tuple[str, ...]) -> Client:
    app = make_app(dataclasses.replace(
        settings, jobs=dataclasses.replace(settings.jobs, run_in_process=False),
        knowledge=dataclasses.replace(settings.knowledge, allowed_private_hosts=allowed)))
    app[URL_RESOLVER] = StubResolver(DNS)
    started: Client = await aiohttp_client(app)
    return started


@pytest.fixture
async def webhook_client(settings: Settings, aiohttp_client: Any) -> Client:
    """The app with the knowledge tests' allow-list (the local receiver) and a stub DNS; no in-process runner."""
    return await _client(settings, aiohttp_client, ("127.0.0.1",))


@pytest.fixture
async def strict_client(settings: Settings, aiohttp_client: Any) -> Client:
    """The app as deployed: nothing allow-listed."""
    return await _client(settings, aiohttp_client, ())


async def _create(client: Client, tenant: Tenant, url: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/api/webhook-endpoints", json={"url": url, "eventTypes": [FORM_SUBMITTED], **extra},
                             headers=tenant.headers)
    return resp.status, await resp.json()


async def test_the_secret_is_shown_once_on_create_and_never_listed(webhook_client: Client,
                                                                   make_business: MakeBusiness) -> None:
    tenant = await make_business()
    status, body = await _create(webhook_client, tenant, "https://hooks.example.test/in")
    assert status == 201 and body["secret"].startswith("whsec_")
    endpoint_id = body["endpoint"]["id"]
    listed = await (await webhook_client.get("/api/webhook-endpoints", headers=tenant.headers)).json()
    assert [e["id"] for e in listed["endpoints"]] == [endpoint_id]
    one = await (await webhook_client.get(f"/api/webhook-endpoints/{endpoint_id}", headers=tenant.headers)).text()
    assert body["secret"] not in one and "whsec_" not in one
    rotated = await webhook_client.post(f"/api/webhook-endpoints/{endpoint_id}/rotate-secret", headers=tenant.headers)
    new = await rotated.json()
    assert rotated.status == 200 and new["secret"].startswith("whsec_") and new["secret"] != body["secret"]
    after = await (await webhook_client.get(f"/api/webhook-endpoints/{endpoint_id}", headers=tenant.headers)).json()
    assert after["previousSecretValidUntil"] == new["previousSecretValidUntil"]


@pytest.mark.parametrize("url", [
    "http://hooks.example.test/in", "https://loopback.test/in", "https://lan.test/in", "https://metadata.test/in",
    "https://v6.test/in", "https://127.0.0.1/in", "https://169.254.169.254/latest", "https://[::1]/in",
    "https://100.64.0.1/in", "https://224.0.0.1/in", "ftp://hooks.example.test/in",
    "https://user:pw@hooks.example.test/"])
async def test_a_url_webhooks_may_not_reach_is_refused_on_save(strict_client: Client, make_business: MakeBusiness,
                                                               pool: asyncpg.Pool, url: str) -> None:
    tenant = await make_business()
    status, body = await _create(strict_client, tenant, url)
    assert status == 422 and body["error"]["code"] == "URL_NOT_ALLOWED", body
    assert await pool.fetchval("SELECT count(*) FROM webhook_endpoints") == 0
    status, created = await _create(strict_client, tenant, "https://hooks.example.test/in")
    resp = await strict_client.patch(f"/api/webhook-endpoints/{created['endpoint']['id']}", json={"url": url},
                                      headers=tenant.headers)
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "URL_NOT_ALLOWED"


async def test_bad_event_types_and_form_ids_are_422_naming_the_field(webhook_client: Client,
                                                                     make_business: MakeBusiness) -> None:
    tenant = await make_business()
    for extra, field in (({"eventTypes": ["form.submited"]}, "eventTypes"), ({"eventTypes": []}, "eventTypes"),
                         ({"formIds": ["nope"]}, "formIds")):
        resp = await webhook_client.post("/api/webhook-endpoints", headers=tenant.headers, json={
            "url": "https://hooks.example.test/in", "eventTypes": [FORM_SUBMITTED], **extra})
        assert resp.status == 422 and (await resp.json())["error"]["field"] == field


async def test_patch_disables_and_delete_removes(webhook_client: Client, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    _, created = await _create(webhook_client, tenant, "https://hooks.example.test/in")
    path = f"/api/webhook-endpoints/{created['endpoint']['id']}"
    patched = await (await webhook_client.patch(path, json={"enabled": False, "formIds": [str(uuid.uuid4())]},
                                                headers=tenant.headers)).json()
    assert patched["enabled"] is False and len(patched["formIds"]) == 1
    assert patched["url"] == "https://hooks.example.test/in"
    assert (await webhook_client.delete(path, headers=tenant.headers)).status == 204
    assert (await webhook_client.get(path, headers=tenant.headers)).status == 404


async def test_messages_attempts_retry_and_the_test_event(webhook_client: Client, make_business: MakeBusiness,
                                                          pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    async with (FakeWebhookReceiver() as receiver,
                guarded_session(("127.0.0.1",), user_agent="tests") as session):
        receiver.script("/in", ["500", "ok", "ok"])
        _, created = await _create(webhook_client, tenant, receiver.url("/in"))
        endpoint_id = created["endpoint"]["id"]
        runner = Runner(pool, {SEND_KIND: SendWebhook(pool, session, allowed_private_hosts=("127.0.0.1",),
                                                       clock=utc_now)}, JobsConfig())
        await webhook_outbox.enqueue(pool, business_id=tenant.business_id, event_type=FORM_SUBMITTED,
                                     data={"form_id": "f1", "submission_id": "s1", "submitted_data": {"a": 1}})
        await runner.run_once()
        listed = await (await webhook_client.get(f"/api/webhook-endpoints/{endpoint_id}/messages",
                                                 headers=tenant.headers)).json()
        (message,) = listed["messages"]
        assert (message["status"], message["attempts"], message["lastStatus"]) == ("pending", 1, 500)
        retried = await webhook_client.post(f"/api/webhook-messages/{message['id']}/retry", headers=tenant.headers)
        assert retried.status == 202
        await runner.run_once()
        detail = await (await webhook_client.get(f"/api/webhook-messages/{message['id']}",
                                                 headers=tenant.headers)).json()
        assert detail["message"]["status"] == "delivered"
        assert detail["payload"]["data"]["submitted_data"] == {"a": 1}
        assert [(a["statusCode"], a["outcome"]) for a in detail["attempts"]] == [(500, "retry"), (204, "delivered")]
        assert {r.webhook_id for r in receiver.received} == {detail["message"]["webhookId"]}
        assert all(r.verify_now(created["secret"]) for r in receiver.received)
        tested = await webhook_client.post(f"/api/webhook-endpoints/{endpoint_id}/test", headers=tenant.headers)
        assert tested.status == 202 and (await tested.json())["eventType"] == "webhook.test"
        await runner.run_once()
        assert receiver.received[-1].verify_now(created["secret"])["type"] == "webhook.test"
