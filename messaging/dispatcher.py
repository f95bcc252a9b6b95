"""The outbox dispatcher: claims due messages, sends them through the carrier, records what happened.

One runs in every process. A send whose answer never came (timeout, 5xx, a dead process)
may have gone out, so the message is marked to be looked up before anything is sent again:
a text is never sent twice. 429 and 5xx are retried after a jittered backoff; numbers Twilio
calls unreachable are marked so later sends skip them; 21610 (the person texted STOP to
Twilio) becomes an opt-out. Each message Twilio accepts is recorded at once and paid for
after the claim's sends, with the other texts recorded meanwhile (`messaging.charges`): its
segments debited once, keyed `sms:{MessageSid}` (a campaign's from its hold); a campaign whose
hold can't pay for its due texts is funded for the rest, or paused, between the claim and
the sends.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import uuid
from collections.abc import Callable, Collection
from typing import Final

import asyncpg
import structlog

from billing.cost_config import ProviderCostsConfig
from billing.money import Currency
from messaging import campaign_funds, campaigns, consent
from messaging.charges import PAY_BATCH, pay_recorded, record_accepted
from messaging.claiming import Claimed, claim
from messaging.config import SmsConfig
from messaging.outbox import Message, add_event
from phone_numbers.carrier import CarrierError, CarrierMessage, PhoneCarrier
from storage.executor import Connection
from storage.transactions import transaction

log = structlog.get_logger(__name__)


OPTED_OUT: Final = 21610
UNREACHABLE: Final = frozenset({21211, 30005, 30006})
RATE_LIMITED: Final = 20429


def _finished(sending: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
    """A send task's done callback: forget it, and log what it raised (the database was unreachable)."""
    def done(task: asyncio.Task[None]) -> None:
        sending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sms_send_failed", error=repr(task.exception()))
    return done


class Dispatcher:
    """Sends the outbox of every business through one carrier account.

    Args:
        status_callback_base: `PUBLIC_URL/api/sms/status`; `?m=<messageId>` is appended.
        clock: the current time (tests inject one).
    """

    def __init__(self, pool: asyncpg.Pool, carrier: PhoneCarrier, config: SmsConfig, currency: Currency, *,
                 status_callback_base: str, clock: Callable[[], datetime.datetime],
                 rng: random.Random | None = None, costs: ProviderCostsConfig = ProviderCostsConfig()) -> None:
        self._pool, self._carrier, self._config, self._currency = pool, carrier, config, currency
        self._costs = costs
        self._callback = status_callback_base
        self._clock = clock
        self._rng = rng or random.Random()
        self._in_flight = asyncio.Semaphore(config.max_in_flight)
        # The messages this dispatcher is sending: never stale to its own claims.
        self._open: set[uuid.UUID] = set()
        # Of those, the ones claimed ahead and waiting for their slot: bounded by the claim's look-ahead, not counted
        # in the claims' bound (counted, a second's texts of 200 numbers stopped the claims until past their slots).
        self._before_slot = 0

    async def run_once(self) -> int:
        """One claim and its sends, then paying for what was recorded; returns how many messages were claimed."""
        sends = await self._claim()
        await asyncio.gather(*(self._send(c) for c in sends))
        await self._pay()
        return len(sends)

    async def run(self) -> None:
        """Until cancelled: claim, send and pay, each going on while the others wait on the network.

        A claim does not wait for the sends of the one before (they wait on Twilio, and on their
        slot in their number's pace), so the next claim's database work overlaps them; at most
        twice `max_in_flight` texts are claimed, past their slot and unsent at once (those claimed
        ahead of their slot are bounded by the poll's look-ahead). The payer runs beside them.
        A claim that found fewer than a batch due rests `poll_interval_seconds`.
        """
        sending: set[asyncio.Task[None]] = set()
        payer = asyncio.create_task(self._pay_forever())
        try:
            while True:
                try:
                    sends = await self._claim(self._open)
                except (OSError, asyncpg.PostgresError):
                    log.exception("sms_dispatch_failed")
                    sends = []
                for claimed in sends:
                    self._open.add(claimed.message.id)
                    task = asyncio.create_task(self._send(claimed))
                    sending.add(task)
                    task.add_done_callback(_finished(sending))
                await asyncio.sleep(0)  # the new sends start: those with a slot ahead count themselves waiting
                while len(sending) - self._before_slot >= 2 * self._config.max_in_flight:
                    await asyncio.wait(sending, return_when=asyncio.FIRST_COMPLETED)
                if len(sends) < self._config.claim_batch:
                    await asyncio.sleep(self._config.poll_interval_seconds)
        finally:
            for task in (payer, *sending):
                task.cancel()
            await asyncio.gather(payer, *sending, return_exceptions=True)

    async def _claim(self, sending: Collection[uuid.UUID] = ()) -> list[Claimed]:
        async with transaction(self._pool) as conn:
            taken = await claim(conn, self._config, now=self._clock(), sending=sending)
        for campaign_id in sorted(taken.unfunded):
            await campaign_funds.fund_or_pause(self._pool, campaign_id, self._config.price_per_segment_minor,
                                               self._currency, now=self._clock())
        return taken.sends

    async def _pay(self) -> int:
        """Pay for every text recorded and not yet paid; returns how many."""
        paid = 0
        while True:
            batch = await pay_recorded(self._pool, self._currency, now=self._clock(), costs=self._costs)
            paid += batch
            if batch < PAY_BATCH:
                return paid

    async def _pay_forever(self) -> None:
        while True:
            try:
                paid = await self._pay()
            except (OSError, asyncpg.PostgresError):
                log.exception("sms_payment_failed")
                paid = 0
            if not paid:
                await asyncio.sleep(self._config.poll_interval_seconds)

    async def _send(self, claimed: Claimed) -> None:
        self._open.add(claimed.message.id)
        try:
            await self._send_claimed(claimed)
        finally:
            self._open.discard(claimed.message.id)

    async def _send_claimed(self, claimed: Claimed) -> None:
        message = claimed.message
        if claimed.send_at is not None:
            self._before_slot += 1
            try:
                await asyncio.sleep((claimed.send_at - self._clock()).total_seconds())
            finally:
                self._before_slot -= 1
        async with self._in_flight:
            if message.verify:
                try:
                    found = await self._lookup(message)
                except CarrierError as exc:
                    await self._retry_later(message, exc, verify=True)
                    return
                if found is not None:
                    log.info("sms_found_after_lost_answer", message_id=str(message.id), sid=found.sid)
                    await self._accepted(message, found)
                    return
            try:
                sent = await self._carrier.send_message(
                    message.from_number, message.to_phone, message.body,
                    status_callback=f"{self._callback}?m={message.id}", validity_seconds=claimed.validity_seconds)
            except CarrierError as exc:
                await self._refused(message, exc)
                return
        await self._accepted(message, sent)

    async def _lookup(self, message: Message) -> CarrierMessage | None:
        """Twilio's copy of this message if an earlier attempt went out: same route and body, a new sid."""
        recent = await self._carrier.recent_messages(message.from_number, message.to_phone)
        candidates = [m for m in recent if m.body == message.body]
        if not candidates:
            return None
        known = set(await self._pool.fetchval(
            "SELECT coalesce(array_agg(message_sid), '{}') FROM sms_outbox WHERE message_sid = ANY($1::text[])",
            [m.sid for m in candidates]))
        return next((m for m in reversed(candidates) if m.sid not in known), None)

    async def _accepted(self, message: Message, sent: CarrierMessage) -> None:
        await record_accepted(self._pool, message.id, sent.sid, price_per_segment=self._config.price_per_segment_minor,
                              currency=self._currency, answered_at=self._clock())

    async def _refused(self, message: Message, exc: CarrierError) -> None:
        ambiguous = exc.status == 0 or exc.status >= 500
        if ambiguous or exc.status == 429 or exc.code == RATE_LIMITED:
            await self._retry_later(message, exc, verify=ambiguous)
            return
        async with transaction(self._pool) as conn:
            if exc.code == OPTED_OUT:
                await consent.opt_out(conn, message.business_id, message.to_phone, source=consent.Source.CARRIER,
                                      detail=f"Twilio {OPTED_OUT}", number_id=message.number_id)
            elif exc.code in UNREACHABLE:
                await consent.mark_undeliverable(conn, message.business_id, message.to_phone, exc.code)
            await self._fail(conn, message.id, exc)
            if message.campaign_id is not None:
                await campaigns.pause_on_failures(conn, message.campaign_id,
                                                  window=self._config.campaign_failure_window,
                                                  threshold=self._config.campaign_failure_threshold)

    async def _fail(self, conn: Connection, message_id: uuid.UUID, exc: CarrierError) -> None:
        now = self._clock()
        await conn.execute("UPDATE sms_outbox SET status = 'failed', error_code = $2, error_message = $3,"
                           " updated_at = $4 WHERE id = $1", message_id, exc.code, str(exc)[:500], now)
        await add_event(conn, message_id, "failed", exc.code, "twilio", now)

    def backoff(self, attempts: int) -> datetime.timedelta:
        """Jittered exponential: base × 2^(attempts-1) × [0.5, 1.5), capped."""
        base = self._config.backoff_base_seconds * 2 ** max(0, attempts - 1)
        seconds = min(self._config.backoff_max_seconds, base) * (0.5 + self._rng.random())
        return datetime.timedelta(seconds=seconds)

    async def _retry_later(self, message: Message, exc: CarrierError, *, verify: bool) -> None:
        """Queue the message again after a backoff, unless a status callback already named its sid (it went)."""
        attempts = message.attempts + 1
        async with transaction(self._pool) as conn:
            sid = await conn.fetchval("SELECT message_sid FROM sms_outbox WHERE id = $1 FOR UPDATE", message.id)
            if sid is None and attempts >= self._config.max_attempts:
                await self._fail(conn, message.id, exc)
                return
            if sid is None:
                now = self._clock()
                await conn.execute(
                    "UPDATE sms_outbox SET status = 'queued', verify = $2 OR verify, not_before = $3, error_code = $4,"
                    " error_message = $5, updated_at = $6 WHERE id = $1",
                    message.id, verify, now + self.backoff(attempts), exc.code, str(exc)[:500], now)
                log.info("sms_retry_later", message_id=str(message.id), status=exc.status, code=exc.code,
                         verify=verify)
                return
        await self._accepted(message, CarrierMessage(sid, message.body, ""))
