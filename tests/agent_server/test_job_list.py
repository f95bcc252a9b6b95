"""GET /api/jobs: a business sees its own jobs (e.g. the failed ones), never another's or the system's."""

from __future__ import annotations

import dataclasses
import datetime
import uuid

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server.config import Settings
from jobs import queue
from tests.conftest import MakeBusiness, MakeClient

NOW = datetime.datetime(2026, 3, 4, 10, 0, tzinfo=datetime.UTC)


async def _failed_job(pool: asyncpg.Pool, kind: str, business_id: uuid.UUID | None) -> int:
    job_id = await queue.enqueue(pool, kind, now=NOW, business_id=business_id)
    (job,) = await queue.claim(pool, kinds=(kind,), limit=1, worker="w", now=NOW,
                               lease=datetime.timedelta(minutes=1))
    await queue.fail(pool, job, "MailRejected: 550 no such mailbox", worker="w", now=NOW, permanent=True)
    assert job_id is not None
    return job_id


async def test_failed_jobs_list_only_the_callers_business(
        make_client: MakeClient, settings: Settings, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    # No in-process runner: it would take the due jobs this test enqueues and claims itself.
    app_client = await make_client(dataclasses.replace(settings, jobs=dataclasses.replace(settings.jobs,
                                                                                            run_in_process=False)))
    a, b = await make_business("A"), await make_business("B")
    mine = await _failed_job(pool, "mail.send", a.business_id)
    await _failed_job(pool, "mail.send", b.business_id)
    await _failed_job(pool, "system.cleanup", None)
    await queue.enqueue(pool, "mail.send", now=NOW, business_id=a.business_id)

    resp = await app_client.get("/api/jobs", params={"status": "failed"}, headers=a.headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["businessId"] == str(a.business_id)
    assert [(j["id"], j["kind"], j["status"], j["attempts"]) for j in body["jobs"]] == [
        (mine, "mail.send", "failed", 1)]
    assert body["jobs"][0]["lastError"] == "MailRejected: 550 no such mailbox"

    everything = await (await app_client.get("/api/jobs", headers=a.headers)).json()
    assert sorted(j["status"] for j in everything["jobs"]) == ["failed", "queued"]


async def test_an_unknown_status_is_a_422(app_client: TestClient[web.Request, web.Application],
                                          make_business: MakeBusiness) -> None:
    a = await make_business("A")
    resp = await app_client.get("/api/jobs", params={"status": "exploded"}, headers=a.headers)
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "status"


async def test_jobs_need_a_token(app_client: TestClient[web.Request, web.Application]) -> None:
    assert (await app_client.get("/api/jobs")).status == 401
