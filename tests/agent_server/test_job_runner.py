"""Jobs in the shell: `serve` runs them in-process, `agent-server worker` runs them alone, `mail list` shows held mail."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import os
import signal
import subprocess
import sys

import asyncpg
import pytest

from agent_server import job_runner
from agent_server.cli import main
from agent_server.config import ConfigError, Settings
from mail import outbox
from mail.rendering import Rendered
from tests.conftest import JWT_SECRET, MakeClient, MakeSettings
from tests.fake_smtp import FakeSmtp

CONTENT = Rendered(subject="Hello", text="Plain words.")


def _fast(settings: Settings) -> Settings:
    return dataclasses.replace(settings, jobs=dataclasses.replace(settings.jobs, poll_interval_seconds=0.05))


async def _enqueue(pool: asyncpg.Pool, key: str) -> int:
    outbox_id = await outbox.enqueue(pool, CONTENT, recipient="owner@example.com", dedupe_key=key,
                                     now=datetime.datetime.now(datetime.UTC))
    assert outbox_id is not None
    return outbox_id


async def _status_becomes(pool: asyncpg.Pool, outbox_id: int, status: str, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while await pool.fetchval("SELECT status FROM email_outbox WHERE id = $1", outbox_id) != status:
            await asyncio.sleep(0.05)


async def test_serve_sends_queued_email_in_process(make_client: MakeClient, make_settings: MakeSettings,
                                                   pool: asyncpg.Pool) -> None:
    async with FakeSmtp() as smtp:
        await make_client(_fast(make_settings(SMTP_URL=smtp.url, MAIL_FROM="alerts@example.com")))
        outbox_id = await _enqueue(pool, "in-process")
        await _status_becomes(pool, outbox_id, "sent")
        assert [m["Subject"] for m in smtp.received] == ["Hello"]


async def test_serve_without_smtp_holds_email(make_client: MakeClient, make_settings: MakeSettings,
                                              pool: asyncpg.Pool) -> None:
    await make_client(_fast(make_settings()))
    await _status_becomes(pool, await _enqueue(pool, "no-smtp"), "held")


async def test_serve_leaves_jobs_to_a_worker_when_told(make_client: MakeClient, make_settings: MakeSettings,
                                                       pool: asyncpg.Pool) -> None:
    settings = _fast(make_settings())
    await make_client(dataclasses.replace(settings, jobs=dataclasses.replace(settings.jobs, run_in_process=False)))
    outbox_id = await _enqueue(pool, "worker-only")
    await asyncio.sleep(0.3)
    assert await pool.fetchval("SELECT status FROM email_outbox WHERE id = $1", outbox_id) == "queued"


async def test_the_worker_command_delivers_and_stops_on_sigterm(database_url: str, pool: asyncpg.Pool) -> None:
    async with FakeSmtp() as smtp:
        env = {**os.environ, "DATABASE_URL": database_url, "SUPABASE_JWT_SECRET": JWT_SECRET,
               "SMTP_URL": smtp.url, "MAIL_FROM": "alerts@example.com"}
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; from agent_server.cli import main; sys.exit(main(['worker']))",
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            outbox_id = await _enqueue(pool, "worker")
            await _status_becomes(pool, outbox_id, "sent", seconds=20)
            assert len(smtp.received) == 1
        finally:
            worker.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(worker.communicate(), 20)
        assert worker.returncode == 0, err.decode()[-2000:]


async def test_mail_list_shows_held_email(monkeypatch: pytest.MonkeyPatch, database_url: str,
                                          pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]) -> None:
    outbox_id = await _enqueue(pool, "to-hold")
    await pool.execute("UPDATE email_outbox SET status = 'held' WHERE id = $1", outbox_id)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SUPABASE_JWT_SECRET", JWT_SECRET)
    exit_code = await asyncio.to_thread(main, ["mail", "list", "--json"])
    assert exit_code == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [(e["id"], e["status"], e["recipient"]) for e in listed["emails"]] == [
        (outbox_id, "held", "owner@example.com")]


def test_an_invalid_smtp_url_stops_startup_without_showing_it(make_settings: MakeSettings) -> None:
    with pytest.raises(ConfigError, match="mail.smtp_url") as caught:
        make_settings(SMTP_URL="http://user:hunter2@mail.example.com")
    assert "hunter2" not in str(caught.value)


def test_smtp_without_a_from_address_stops_startup(make_settings: MakeSettings) -> None:
    with pytest.raises(ConfigError, match="MAIL_FROM"):
        job_runner.mailer_for(make_settings(SMTP_URL="smtp://127.0.0.1:2525"))
    with pytest.raises(ConfigError, match="mail.from_address"):
        make_settings(MAIL_FROM="not an address")
