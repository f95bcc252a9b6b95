"""The outbox end to end: enqueue in the caller's transaction, the `mail.send` job, a local SMTP server."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator

import asyncpg
import pytest

from jobs import queue
from jobs.config import JobsConfig
from jobs.queue import BACKOFF
from jobs.runner import Runner
from mail import outbox
from mail.rendering import Rendered, render
from mail.sending import SendEmail
from mail.smtp import SmtpMailer, SmtpTarget
from tests.fake_smtp import FakeSmtp
from tests.jobs.clock import ManualClock

T0 = datetime.datetime(2026, 3, 4, 10, 0, tzinfo=datetime.UTC)
SENDER = "alerts@agent.example.com"
CONTENT = Rendered(subject="New lead", text="Ann called.", html="<p>Ann called.</p>")


@pytest.fixture
async def smtp() -> AsyncIterator[FakeSmtp]:
    async with FakeSmtp() as fake:
        yield fake


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def runner(pool: asyncpg.Pool, smtp: FakeSmtp, clock: ManualClock) -> AsyncIterator[Runner]:
    mailer = SmtpMailer(SmtpTarget.parse(smtp.url), timeout_seconds=5)
    yield Runner(pool, {outbox.SEND_KIND: SendEmail(pool, mailer, sender=SENDER, clock=clock)}, JobsConfig(),
                 clock=clock)
    await mailer.close()


async def _enqueue(pool: asyncpg.Pool, key: str = "lead:1", content: Rendered = CONTENT,
                   to: str = "owner@example.com") -> int:
    outbox_id = await outbox.enqueue(pool, content, recipient=to, dedupe_key=key, now=T0)
    assert outbox_id is not None
    return outbox_id


async def _email(pool: asyncpg.Pool, outbox_id: int) -> outbox.OutboxEmail:
    email = await outbox.find(pool, outbox_id)
    assert email is not None
    return email


async def test_a_451_is_retried_after_the_backoff_then_sent(
        pool: asyncpg.Pool, smtp: FakeSmtp, runner: Runner, clock: ManualClock) -> None:
    smtp.data_replies.append("451 4.3.0 greylisted, try again later")
    outbox_id = await _enqueue(pool)
    assert await runner.run_once() == 1
    email = await _email(pool, outbox_id)
    assert (email.status, email.attempts, smtp.received) == ("queued", 1, [])
    assert email.last_error is not None and "451" in email.last_error
    assert await runner.run_once() == 0
    clock.advance(seconds=BACKOFF[0].total_seconds())
    assert await runner.run_once() == 1
    email = await _email(pool, outbox_id)
    assert (email.status, email.attempts, email.provider_message_id, email.sent_at) == ("sent", 2, "Q1", clock.now)
    (received,) = smtp.received
    assert received["Subject"] == "New lead" and received["To"] == "owner@example.com"


async def test_a_550_fails_the_email_and_its_job_without_a_retry(
        pool: asyncpg.Pool, smtp: FakeSmtp, runner: Runner, clock: ManualClock) -> None:
    smtp.refuse["gone@example.com"] = "550 5.1.1 no such mailbox"
    outbox_id = await _enqueue(pool, to="gone@example.com")
    await runner.run_once()
    email = await _email(pool, outbox_id)
    assert (email.status, email.attempts) == ("failed", 1)
    assert await pool.fetchval("SELECT status FROM jobs WHERE kind = 'mail.send'") == "failed"
    clock.advance(hours=3)
    assert await runner.run_once() == 0


async def test_an_email_sent_while_the_server_is_down_is_delivered_once_it_is_up(
        pool: asyncpg.Pool, smtp: FakeSmtp, runner: Runner, clock: ManualClock) -> None:
    await smtp.stop()
    outbox_id = await _enqueue(pool)
    await runner.run_once()
    assert (await _email(pool, outbox_id)).status == "queued"
    await smtp.start()
    clock.advance(minutes=1)
    await runner.run_once()
    assert (await _email(pool, outbox_id)).status == "sent"
    assert len(smtp.received) == 1


async def test_an_email_still_refused_after_the_last_retry_is_failed(
        pool: asyncpg.Pool, smtp: FakeSmtp, runner: Runner, clock: ManualClock) -> None:
    smtp.data_replies.extend(["421 4.3.2 shutting down"] * (len(BACKOFF) + 1))
    outbox_id = await _enqueue(pool)
    for wait in (*BACKOFF, datetime.timedelta(0)):
        await runner.run_once()
        clock.advance(seconds=wait.total_seconds())
    email = await _email(pool, outbox_id)
    assert (email.status, email.attempts) == ("failed", len(BACKOFF) + 1)
    assert await pool.fetchval("SELECT status FROM jobs WHERE kind = 'mail.send'") == "failed"


async def test_one_event_enqueued_twice_is_one_email(pool: asyncpg.Pool, smtp: FakeSmtp, runner: Runner) -> None:
    await _enqueue(pool, key="lead:7")
    assert await outbox.enqueue(pool, CONTENT, recipient="owner@example.com", dedupe_key="lead:7", now=T0) is None
    await runner.run_once()
    assert await outbox.enqueue(pool, CONTENT, recipient="owner@example.com", dedupe_key="lead:7", now=T0) is None
    await runner.run_once()
    assert len(smtp.received) == 1
    assert await pool.fetchval("SELECT count(*) FROM jobs") == 1


async def test_a_script_tag_in_a_template_value_arrives_escaped(
        pool: asyncpg.Pool, smtp: FakeSmtp, runner: Runner) -> None:
    content = render("test", {"recipient_name": "<script>alert(1)</script>", "business_name": "Ann & Co"})
    await _enqueue(pool, content=content)
    await runner.run_once()
    (received,) = smtp.received
    html = received.get_body(("html",))
    text = received.get_body(("plain",))
    assert html is not None and text is not None
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html.get_content()
    assert "<script>" not in html.get_content()
    assert "Ann &amp; Co" in html.get_content()
    assert "<script>alert(1)</script>" in text.get_content(), "the plain-text part shows the value as typed"
    assert received["Subject"] == "Test email from Ann & Co"
    assert received["Message-ID"] and received["Date"]


@pytest.mark.parametrize(("subject", "to"), [
    ("Hi\r\nBcc: victim@example.com", "owner@example.com"),
    ("Hi", "owner@example.com\r\nBcc: victim@example.com"),
    ("Hi", "not an address"),
])
async def test_header_injection_and_bad_addresses_are_refused_and_write_nothing(
        pool: asyncpg.Pool, subject: str, to: str) -> None:
    with pytest.raises(ValueError):
        await outbox.enqueue(pool, Rendered(subject=subject, text="x"), recipient=to, dedupe_key="k", now=T0)
    assert await pool.fetchval("SELECT count(*) FROM email_outbox") == 0
    assert await pool.fetchval("SELECT count(*) FROM jobs") == 0


async def test_a_template_value_with_a_line_break_cannot_reach_the_subject() -> None:
    with pytest.raises(ValueError, match="line break"):
        render("test", {"recipient_name": "Ann", "business_name": "Evil\r\nBcc: victim@example.com"})


async def test_an_email_rolled_back_with_its_event_never_exists(pool: asyncpg.Pool) -> None:
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, CONTENT, recipient="owner@example.com", dedupe_key="lead:9", now=T0)
            raise RuntimeError("the event failed")
    assert await pool.fetchval("SELECT count(*) FROM email_outbox") == 0
    assert await pool.fetchval("SELECT count(*) FROM jobs") == 0


async def test_without_smtp_every_email_is_held(pool: asyncpg.Pool, clock: ManualClock) -> None:
    runner = Runner(pool, {outbox.SEND_KIND: SendEmail(pool, None, sender="", clock=clock)}, JobsConfig(), clock=clock)
    outbox_id = await _enqueue(pool)
    await runner.run_once()
    email = await _email(pool, outbox_id)
    assert (email.status, email.attempts, email.sent_at) == ("held", 0, None)
    assert [e.id for e in await outbox.list_emails(pool, status="held")] == [outbox_id]
    assert await pool.fetchval("SELECT status FROM jobs") == "succeeded"


async def test_the_send_job_belongs_to_the_emails_business(pool: asyncpg.Pool) -> None:
    business_id = await pool.fetchval("INSERT INTO businesses (name) VALUES ('Acme') RETURNING id")
    await outbox.enqueue(pool, CONTENT, recipient="owner@example.com", dedupe_key="b:1", now=T0,
                         business_id=business_id)
    (job,) = await queue.list_for_business(pool, business_id)
    assert job.kind == outbox.SEND_KIND
