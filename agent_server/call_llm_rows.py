"""A call's LLM attempts as `llm_requests` rows: the sink the shell gives each call's background recorder.

Media reports an attempt without knowing the table's owner (`llm_usage` sits above it); the
row is written from the recorder's task, never on the audio path. A call's rows charge nothing
themselves (calls are charged per minute), so their ledger key is empty; `conversation_id` is
the call's id, `call_sid` Twilio's.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from llm_usage import requests as llm_requests
from llm_usage.requests import Attempt, RequestContext, RequestLog, Status
from media.call_records import LlmAttemptRecord, LlmAttemptSink, StreamClaim

_STATUSES: Mapping[str, Status] = {"ok": "ok", "error": "error", "timeout": "timeout"}


def sink(pool: asyncpg.Pool, prices: Mapping[str, Mapping[str, int]], claim: StreamClaim) -> LlmAttemptSink:
    """Where the call of `claim` writes its attempts, priced at `prices` (`[provider_costs.llm]`)."""
    context = RequestContext(claim.business_id, claim.agent_id, claim.agent_version, "voice",
                             conversation_id=claim.call_id, call_sid=claim.call_sid)

    async def write(record: LlmAttemptRecord) -> None:
        attempt = Attempt(record.model, record.model, 1, _STATUSES.get(record.status, "error"), record.http_status,
                          record.input_tokens, record.cached_tokens, record.output_tokens, record.estimated,
                          record.first_token_ms)
        await llm_requests.insert(pool, RequestLog(context, (attempt,)), ledger_key=None, prices=prices)

    return write
