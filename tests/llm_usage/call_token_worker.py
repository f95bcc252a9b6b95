"""A call's process for the sweep test to SIGKILL: it holds the call's token block and writes its rows.

``python -m tests.llm_usage.call_token_worker DSN AGENT_ID CALL_ID BLOCK_SECONDS`` takes the call's first
block (expiring in BLOCK_SECONDS) on the server's token pool, writes and counts three answers' rows
as a call's recorder does (the second leaves under 1,000 of the block, so it is refilled), writes a
fourth row without counting it, prints ``held`` and waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from agent_server.token_pool import open_pool
from llm_usage import requests as llm_requests
from llm_usage.requests import Attempt, RequestContext, RequestLog
from llm_usage.token_calls import CallTokens

ANSWERS = ((1_000, 500), (1_200, 400), (300, 200))
UNCOUNTED = (700, 100)


async def main(dsn: str, agent_id: uuid.UUID, call_id: uuid.UUID, block_seconds: float) -> None:
    pool = await open_pool(dsn)
    business_id = await pool.fetchval("SELECT business_id FROM agents WHERE id = $1", agent_id)
    context = RequestContext(business_id, agent_id, None, "voice", conversation_id=call_id, call_sid="CA" + call_id.hex)

    async def row(input_tokens: int, output_tokens: int) -> int:
        attempt = Attempt("gpt-4o-mini", "gpt-4o-mini", 1, "ok", 200, input_tokens, 0, output_tokens)
        await llm_requests.insert(pool, RequestLog(context, (attempt,)), ledger_key=None, prices={})
        return input_tokens + output_tokens

    tokens = CallTokens(pool, agent_id, call_id=call_id, expires_in=block_seconds)
    await tokens.start()
    for answer in ANSWERS:
        await tokens.count(await row(*answer))
    await row(*UNCOUNTED)
    print("held", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], uuid.UUID(sys.argv[2]), uuid.UUID(sys.argv[3]), float(sys.argv[4])))
