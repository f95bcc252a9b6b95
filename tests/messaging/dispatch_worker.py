"""One OS process running the outbox dispatcher until it is killed (the SIGKILL-mid-campaign test).

Run as ``python -m tests.messaging.dispatch_worker DSN TWILIO_BASE_URL``; it connects, prints
``ready`` and sends the outbox of every business through the Twilio at TWILIO_BASE_URL (the
fake's account and token) on the real clock, with `CONFIG`: a send left open by a dead
process is looked up after a second.
"""

from __future__ import annotations

import asyncio
import datetime
import sys

import asyncpg

from billing.money import Currency
from messaging.config import SmsConfig
from messaging.dispatcher import Dispatcher
from phone_numbers.twilio_carrier import TwilioCarrier
from storage.pool import init_connection
from tests.fake_twilio import FakeTwilio
from tests.messaging.outbox_world import CALLBACK

CONFIG = SmsConfig(price_per_segment_minor=1, toll_free_mps=20.0, claim_batch=10, poll_interval_seconds=0.05,
                   stale_send_seconds=1.0)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def main(dsn: str, twilio_base: str) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, init=init_connection)
    assert pool is not None
    account = FakeTwilio()
    carrier = TwilioCarrier(account.account_sid, account.auth_token, twilio_base, timeout_seconds=5)
    try:
        await pool.fetchval("SELECT 1")
        print("ready", flush=True)
        await Dispatcher(pool, carrier, CONFIG, Currency.USD, status_callback_base=CALLBACK, clock=utc_now).run()
    finally:
        await carrier.aclose()
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
