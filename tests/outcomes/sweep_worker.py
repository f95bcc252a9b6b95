"""One OS process running the lead sweep against a shared database and the OpenAI fake (cross-process test).

Run as ``python -m tests.outcomes.sweep_worker DSN BASE_URL API_KEY BATCH``: it connects, prints
``ready``, waits for a line on stdin (so every worker starts together), then runs the
`outcomes.lead_sweep` handler, `BATCH` conversations a run, while any conversation is still
pending, and prints ``{"requests": N, "sweeps": M}``: the LLM requests this process made.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import asyncpg
import orjson

from agent_server.reply_billing import WalletReplyPayment
from billing.config import BillingConfig
from jobs.queue import Job
from jobs.runner import utc_now
from media.llm.base import Completion, Message
from media.llm.openai_sse import OpenAiSseChat
from outcomes.analysis import Analyser
from outcomes.config import OutcomesConfig
from outcomes.job_handlers import LEAD_SWEEP_KIND, LeadSweep
from outcomes.unsubscribe import Links
from storage.pool import init_connection


class CountingChat:
    """The real client, counting the requests this process makes."""

    def __init__(self, llm: OpenAiSseChat) -> None:
        self.llm = llm
        self.requests = 0

    async def complete(self, messages: Sequence[Message], *, model: str, temperature: float = 0.0,
                       response_format: Mapping[str, Any] | None = None) -> Completion:
        self.requests += 1
        return await self.llm.complete(messages, model=model, temperature=temperature,
                                       response_format=response_format)


async def main(dsn: str, base_url: str, api_key: str, batch: int) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, init=init_connection)
    assert pool is not None
    config = OutcomesConfig(sweep_batch=batch, sweep_concurrency=2)
    try:
        async with aiohttp.ClientSession() as session:
            llm = CountingChat(OpenAiSseChat(session, api_key, base_url))
            analyser = Analyser(pool, llm, WalletReplyPayment(pool, BillingConfig()), config,
                                links=Links("https://agent.example.test", b"sweep-worker"), clock=utc_now)
            sweep = LeadSweep(pool, analyser, config)
            await pool.fetchval("SELECT 1")
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            sweeps = 0
            while await pool.fetchval("SELECT count(*) FROM conversation_outcomes WHERE analysis_status = 'pending'"):
                await sweep(Job(sweeps, LEAD_SWEEP_KIND, {}, None, None, 1, utc_now()))
                sweeps += 1
            print(orjson.dumps({"requests": llm.requests, "sweeps": sweeps}).decode(), flush=True)
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
