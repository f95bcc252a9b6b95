"""The `mail.send` job: deliver one outbox email, or hold it when no mail server is configured.

A 4xx or an unreachable server is raised for the runner to retry on its backoff; the email
stays queued and counts the attempt, and is marked failed with the job's last attempt. A 5xx
fails both at once. A sent email is never sent again: the row is checked before each try.
"""

from __future__ import annotations

import structlog

from jobs.errors import PermanentFailure
from jobs.queue import Job
from jobs.runner import Clock, utc_now
from mail import outbox
from mail.errors import MailRejected, TemporaryMailError
from mail.mailer import Mailer
from mail.message import Outgoing, compose, message_id
from storage.executor import Executor

log = structlog.get_logger(__name__)

HELD_REASON = "no SMTP server configured (SMTP_URL)"


class SendEmail:
    """The handler of `mail.send` jobs; `mailer` None holds every email instead of sending it."""

    def __init__(self, db: Executor, mailer: Mailer | None, *, sender: str, clock: Clock = utc_now) -> None:
        if mailer is not None and not sender:
            raise ValueError("a mailer needs a From address (MAIL_FROM)")
        self._db = db
        self._mailer = mailer
        self._sender = sender
        self._clock = clock

    async def __call__(self, job: Job) -> None:
        outbox_id = int(job.payload["outboxId"])
        email = await outbox.find(self._db, outbox_id)
        if email is None or email.status != "queued":
            return
        if self._mailer is None:
            await outbox.hold(self._db, outbox_id, HELD_REASON, now=self._clock())
            log.info("email_held", outbox_id=outbox_id, template=email.template)
            return
        try:
            message = compose(Outgoing(email.recipient, email.subject, email.text_body, email.html_body,
                                       email.headers),
                              sender=self._sender, now=self._clock(),
                              msgid=message_id(f"outbox:{email.id}:{email.dedupe_key}", self._sender))
        except ValueError as exc:
            await outbox.record_failure(self._db, outbox_id, str(exc), now=self._clock(), final=True)
            raise PermanentFailure(str(exc)) from exc
        try:
            provider_id = await self._mailer.send(message)
        except MailRejected as exc:
            await outbox.record_failure(self._db, outbox_id, str(exc), now=self._clock(), final=True)
            raise PermanentFailure(str(exc)) from exc
        except TemporaryMailError as exc:
            await outbox.record_failure(self._db, outbox_id, str(exc), now=self._clock(), final=job.last_attempt)
            raise
        await outbox.mark_sent(self._db, outbox_id, provider_id, now=self._clock())
