"""The shell's side of the job runner: which handler runs each kind, in `serve` and in `agent-server worker`.

Domains never import the shell, so the kinds are wired here: `mail.send` delivers the outbox
through the configured SMTP server, or holds every email when there is none; `messaging.import`
merges an uploaded contacts CSV; `messaging.campaigns` (every minute) starts scheduled campaigns,
resumes ones paused until a top-up and completes finished ones; `conversations.answer_cache_sweep`
(hourly) deletes expired and superseded cached answers; `media.recordings_retention` (daily)
deletes call recordings past their agent's retention; the outbox's upkeep (reconciler,
retention) is in `messaging_jobs`. `serve` runs a runner in-process unless
`[jobs] run_in_process = false` (then a `worker:` process runs them).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from collections.abc import AsyncIterator

import asyncpg
import structlog
from aiohttp import web

from agent_server import webhook_jobs
from agent_server import books_jobs, customer_jobs, knowledge_jobs, messaging_jobs, outcome_jobs
from agent_server.config import ConfigError, Settings
from agent_server.db import database_url
from agent_server.recording_storage import bucket_for
from agent_server.state import DSN, POOL, SETTINGS
from billing.money import parse_currency
from conversations import answer_cache
from customers import ticket_closing
from jobs.runner import Handler, Recurring, Runner, utc_now
from jobs.schedule import Schedule
from mail import outbox
from mail.mailer import Mailer
from mail.sending import SendEmail
from mail.smtp import SmtpMailer, SmtpTarget
from messaging.campaign_schedule import CAMPAIGN_TICK_KIND, CAMPAIGN_TICK_SCHEDULE, CampaignTick
from media.recording.retention import RETENTION_KIND, RETENTION_SCHEDULE, RecordingRetention
from media.recording.s3_store import UPLOAD_KIND, RecordingUpload
from messaging.imports import IMPORT_KIND, ImportJob
from storage.pool import create_pool

log = structlog.get_logger(__name__)

# The kinds of this module that recur (the outcome kinds bring their own: outcome_jobs.RECURRING).
RECURRING: tuple[Recurring, ...] = (Recurring(CAMPAIGN_TICK_KIND, Schedule.parse(CAMPAIGN_TICK_SCHEDULE)),
                                    Recurring(answer_cache.SWEEP_KIND, Schedule.parse(answer_cache.SWEEP_SCHEDULE)),
                                    Recurring(RETENTION_KIND, Schedule.parse(RETENTION_SCHEDULE)))


def recording_uploads(settings: Settings, pool: asyncpg.Pool) -> dict[str, Handler]:
    """`media.recording_upload` with the S3 backend; with the local one there is nothing to upload."""
    bucket = bucket_for(settings)
    return {} if bucket is None else {UPLOAD_KIND: RecordingUpload(pool, Path(settings.recordings.dir), bucket)}


def mailer_for(settings: Settings) -> Mailer | None:
    """The SMTP mailer, or None when SMTP_URL is unset (every email is then held).

    Raises:
        ConfigError: SMTP_URL is set without MAIL_FROM.
    """
    mail = settings.mail
    if not mail.smtp_url:
        return None
    if not mail.from_address:
        raise ConfigError("mail.from_address (MAIL_FROM) must be set when SMTP_URL is")
    return SmtpMailer(SmtpTarget.parse(mail.smtp_url), timeout_seconds=mail.timeout_seconds)


@contextlib.asynccontextmanager
async def running(settings: Settings, pool: asyncpg.Pool, dsn: str) -> AsyncIterator[Runner]:
    """A runner with every kind this server knows, running for the block (LISTENing on `dsn` for enqueued jobs);
    its mailer closed after."""
    mailer = mailer_for(settings)
    try:
        async with (outcome_jobs.handlers(settings, pool) as outcome_handlers,
                    knowledge_jobs.handlers(settings, pool) as knowledge_handlers,
                    messaging_jobs.handlers(settings, pool) as messaging_handlers,
                    webhook_jobs.handlers(settings, dsn) as webhook_handlers):
            handlers: dict[str, Handler] = {
                outbox.SEND_KIND: SendEmail(pool, mailer, sender=settings.mail.from_address),
                **outcome_handlers,
                **knowledge_handlers,
                **messaging_handlers,
                **webhook_handlers,
                IMPORT_KIND: ImportJob(pool),
                answer_cache.SWEEP_KIND: answer_cache.SweepAnswerCache(pool),
                ticket_closing.CLOSE_KIND: ticket_closing.CloseQuietTickets(pool),
                CAMPAIGN_TICK_KIND: CampaignTick(pool, settings.sms, parse_currency(settings.billing.currency),
                                                 clock=utc_now),
                **books_jobs.handlers(settings, pool),
                RETENTION_KIND: RecordingRetention(pool, Path(settings.recordings.dir),
                                                   settings.recordings.retention_batch, bucket_for(settings)),
                **recording_uploads(settings, pool),
                **customer_jobs.handlers(settings, pool),
            }
            runner = Runner(pool, handlers, settings.jobs, recurring=RECURRING + outcome_jobs.RECURRING
                            + knowledge_jobs.recurring(knowledge_handlers) + books_jobs.recurring(settings)
                            + messaging_jobs.recurring(settings) + ticket_closing.RECURRING
                            + webhook_jobs.RECURRING, listen_dsn=dsn)
            async with runner.running(grace_seconds=settings.server.shutdown_timeout_seconds):
                yield runner
    finally:
        if mailer is not None:
            await mailer.close()


async def _in_process(app: web.Application) -> AsyncIterator[None]:
    async with running(app[SETTINGS], app[POOL], app[DSN]):
        yield


def setup(app: web.Application) -> None:
    if app[SETTINGS].jobs.run_in_process:
        app.cleanup_ctx.append(_in_process)


async def run_worker(settings: Settings) -> None:
    """Run jobs until SIGTERM or SIGINT; running jobs then get the shutdown timeout to finish."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    dsn = database_url(settings.database)
    pool = await create_pool(dsn, settings.database)
    try:
        async with running(settings, pool, dsn) as runner:
            log.info("worker_started", worker=runner.worker_id, concurrency=settings.jobs.concurrency,
                     smtp=bool(settings.mail.smtp_url))
            await stop.wait()
        log.info("worker_stopped", worker=runner.worker_id)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):
                loop.remove_signal_handler(sig)
        await pool.close()
