"""One OS process sending webhooks until it is killed (the SIGKILL-mid-send test).

Run as ``python -m tests.automations.webhook_worker DSN``; it connects, prints ``ready`` and
runs the job runner with only the webhook sender, on the real clock, with short leases: the
runner's claim lasts 3 s (renewed every second) and a send's 1.5 s (a 1 s timeout), so a killed
worker's send is due again soon, before its job is taken back.
"""

from __future__ import annotations

import asyncio
import datetime
import sys

import asyncpg

from automations.webhook_delivery import SendWebhook
from automations.webhook_http import guarded_session
from automations.webhook_outbox import SEND_KIND
from jobs.config import JobsConfig
from jobs.runner import Runner, utc_now
from storage.pool import init_connection

ALLOWED = ("127.0.0.1",)
CONFIG = JobsConfig(poll_interval_seconds=0.05, lease_seconds=3.0)
SEND_LEASE = datetime.timedelta(seconds=1.5)


async def main(dsn: str) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, init=init_connection)
    assert pool is not None
    try:
        async with guarded_session(ALLOWED, user_agent="webhook-worker") as session:
            sender = SendWebhook(pool, session, clock=utc_now, allowed_private_hosts=ALLOWED, timeout=1.0,
                                 lease=SEND_LEASE)
            await pool.fetchval("SELECT 1")
            print("ready", flush=True)
            await Runner(pool, {SEND_KIND: sender}, CONFIG).run()
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
