"""`automations.webhook_send`: the job that delivers an endpoint's due messages, at most a few at a time.

A first attempt's job names its endpoint (one queued or running job per endpoint, however many
messages wait: its dedupe key opens only when the drain has run dry, then it looks once more);
a retry's job names its message. Either way the job sends the endpoint's oldest due
messages, as many at once as keep it within `max_in_flight` open sends (counted in the
database, so across every worker), until nothing is due. A job that finds no room just ends:
the sender holding the endpoint's slots picks its messages up when it finishes its own. So a
dead endpoint ties up one of the runner's slots and never delays the sends of a healthy one.

Outcomes: 2xx delivered; 410 Gone disables the endpoint; anything else (a 3xx too, which is
never followed) is retried on `webhook_signing.SCHEDULE` with ±20 % jitter, not sooner than a
`Retry-After`, and failed after the last attempt. Every attempt is logged in `webhook_attempts`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import random
import uuid
from collections.abc import Collection

import aiohttp
import structlog

from automations import webhook_messages as messages
from automations.webhook_http import READ_CAP_BYTES, TIMEOUT_SECONDS, post
from automations.webhook_messages import Claimed, Outcome, Result
from automations.webhook_outbox import message_header_id, queue_stranded
from automations.webhook_signing import headers, parse_retry_after, retry_delay
from jobs import queue
from jobs.queue import Job
from jobs.runner import Clock
from storage.executor import Executor

log = structlog.get_logger(__name__)

MAX_IN_FLIGHT = 4
# A send is the sender's for this long (the timeout plus room for the database); then it is due again.
# At most two thirds of the runner's lease (`[jobs] lease_seconds`, 60 s), so a dead worker's job
# is taken back only once its send is due again.
LEASE = datetime.timedelta(seconds=TIMEOUT_SECONDS + 15)
# A drain with free slots whose sends are all slow looks for newly committed messages this often (they
# queue no job of their own while it runs).
LOOK_AGAIN_SECONDS = 0.25


@dataclasses.dataclass(frozen=True)
class _Sent:
    """A finished attempt, not yet recorded."""

    claimed: Claimed
    result: Result
    started: datetime.datetime


class SendWebhook:
    """The handler of `automations.webhook_send` (registered by the shell with its session and clock)."""

    def __init__(self, db: Executor, session: aiohttp.ClientSession, *, clock: Clock,
                 allowed_private_hosts: Collection[str], max_in_flight: int = MAX_IN_FLIGHT,
                 timeout: float = TIMEOUT_SECONDS, read_cap: int = READ_CAP_BYTES,
                 lease: datetime.timedelta = LEASE, rng: random.Random | None = None) -> None:
        self._db = db
        self._session = session
        self._clock = clock
        self._allowed = tuple(allowed_private_hosts)
        self._max_in_flight = max_in_flight
        self._timeout = timeout
        self._read_cap = read_cap
        self._lease = lease
        self._rng = rng or random.Random()

    async def __call__(self, job: Job) -> None:
        """Drain an endpoint: the job's own (first attempts), or its message's (retries), if that is still due.

        A worker killed mid-send leaves its message `sending` until the send lease runs out; the
        job it was running is taken back when the runner's lease runs out, which is later (the
        send lease is at most two thirds of the runner's, the runner renews every third), so
        the job taken back finds the message due again and sends it.
        """
        if "endpointId" in job.payload:
            own = uuid.UUID(job.payload["endpointId"])
            # The key stays taken while the drain runs, so messages committed meanwhile queue no job
            # (its trades take them); once opened, the last look catches what came before.
            await self.drain(own)
            await queue.open_dedupe_key(self._db, job)
            await self.drain(own)
            return
        endpoint_id = await messages.due_endpoint(self._db, uuid.UUID(job.payload["messageId"]), now=self._clock(),
                                                  max_in_flight=self._max_in_flight)
        if endpoint_id is not None:
            await self.drain(endpoint_id)

    async def drain(self, endpoint_id: uuid.UUID) -> int:
        """Send the endpoint's due messages until none is due, keeping up to `max_in_flight` sends open.

        The first claim takes the endpoint's lock to see how many slots are free; after that,
        whatever finished while the last round trip ran is recorded in one statement that also
        claims as many due messages in its place (`messages.deliver_and_claim`), so a backlog
        costs one round trip per batch of answers and one slow answer does not hold the other
        slots idle. The lock is taken again to grow when more is due than this sender holds slots
        for, when no send has finished for `LOOK_AGAIN_SECONDS` while slots are free (a message
        committed meanwhile goes out beside a slow send), and a last time when nothing is
        running unless the last trade found fewer due messages than slots (that claim also fails
        a disabled endpoint's messages). A message committed after that is sent by the
        endpoint's job, which drains once more after opening its dedupe key, or by the job
        queued once it is open.

        Returns:
            How many attempts this call made.
        """
        sent = 0
        running: set[asyncio.Task[_Sent]] = set()
        try:
            claimed = await self._claim(endpoint_id)
            while True:
                running.update(asyncio.create_task(self._send(one)) for one in claimed)
                sent += len(claimed)
                if not running:
                    return sent
                room = len(running) < self._max_in_flight
                done, running = await asyncio.wait(running, timeout=LOOK_AGAIN_SECONDS if room else None,
                                                   return_when=asyncio.FIRST_COMPLETED)
                if not done:  # slow answers, free slots: messages committed since may be waiting
                    claimed = await self._claim(endpoint_id)
                    continue
                finished = [task.result() for task in done]
                traded = await self._settle(finished)
                claimed = traded.claimed
                if not running and not claimed:
                    if traded.exhausted:
                        return sent
                    claimed = await self._claim(endpoint_id)
                elif not traded.exhausted and len(running) + len(claimed) < self._max_in_flight:
                    claimed += await self._claim(endpoint_id)  # more is due than this sender's slots: grow
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _claim(self, endpoint_id: uuid.UUID) -> list[Claimed]:
        return await messages.claim(self._db, endpoint_id, now=self._clock(), lease=self._lease,
                                    max_in_flight=self._max_in_flight)

    async def _send(self, claimed: Claimed) -> _Sent:
        """One signed POST of a claimed message (recorded by the caller, with the others that finished)."""
        message, endpoint = claimed.message, claimed.endpoint
        started = self._clock()
        signed = headers(endpoint.signing_secrets(started), message_header_id(message.id),
                         int(started.timestamp()), message.body)
        result = await post(self._session, endpoint.url, message.body, signed, allowed_private_hosts=self._allowed,
                            timeout=self._timeout, read_cap=self._read_cap)
        return _Sent(claimed, result, started)

    async def _settle(self, finished: list[_Sent]) -> messages.Traded:
        """Record finished sends and claim as many due messages in their place.

        Deliveries are recorded together; any other outcome one by one first (a retry queues its
        job in the same transaction, a 410 disables the endpoint), each a log line.
        """
        now = self._clock()
        delivered: list[messages.Delivery] = []
        freed = 0
        for one in finished:
            message = one.claimed.message
            outcome, next_attempt = self._judge(one.result, message.attempts, now)
            if outcome == "delivered":
                delivered.append(messages.Delivery(message, one.result, one.started))
                continue
            freed += await messages.record(self._db, one.claimed, one.result, outcome, started=one.started, now=now,
                                           next_attempt=next_attempt)
            log.info("webhook_attempt_failed", message_id=str(message.id), endpoint_id=str(message.endpoint_id),
                     attempt=message.attempts, status=one.result.status_code, outcome=outcome,
                     error=one.result.error, duration_ms=one.result.duration_ms)
        return await messages.deliver_and_claim(self._db, finished[-1].claimed.endpoint, delivered, freed=freed,
                                                now=now, lease=self._lease)

    def _judge(self, result: Result, attempt: int,
               now: datetime.datetime) -> tuple[Outcome, datetime.datetime | None]:
        status = result.status_code
        if status is not None and 200 <= status < 300:
            return "delivered", None
        if status == 410:
            return "disabled", None
        delay = retry_delay(attempt, retry_after=parse_retry_after(result.retry_after, now), rng=self._rng)
        return ("failed", None) if delay is None else ("retry", now + delay)


class SweepWebhooks:
    """The handler of `automations.webhook_sweep`: endpoints whose messages wait with no job get one."""

    def __init__(self, db: Executor, *, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def __call__(self, job: Job) -> None:
        if endpoints := await queue_stranded(self._db, now=self._clock()):
            log.info("webhook_sweep_queued", endpoints=endpoints)
