"""The `llm_requests` rows: one per LLM attempt, with its tokens, its provider cost and the ledger entry that charged it.

The code that talks to the model fills an `Attempt` per request it sent (`AttemptClock` times
the first token); whoever settles the reply writes them with `insert`, in the settle's own
transaction for chat, so a charge and its rows commit together.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from llm_usage.prices import attempt_cost_micros
from storage.executor import Executor

Channel = Literal["voice", "sms", "whatsapp", "widget", "dashboard", "preview", "analysis"]
Status = Literal["ok", "error", "timeout"]


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who asked and where: the same for every attempt of one reply."""

    business_id: uuid.UUID
    agent_id: uuid.UUID | None
    agent_version: int | None
    channel: Channel
    conversation_id: uuid.UUID | None = None
    call_sid: str | None = None
    # The message being answered (the visitor's or the texter's).
    message_id: uuid.UUID | None = None

    def about(self, *, conversation_id: uuid.UUID | None = None, message_id: uuid.UUID | None = None) -> RequestContext:
        """The context for one reply in a conversation."""
        return dataclasses.replace(self, conversation_id=conversation_id or self.conversation_id,
                                   message_id=message_id or self.message_id)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request sent to a model (or, with `answer_cache_hit`, one reply that needed none)."""

    requested_model: str
    served_model: str
    attempt: int
    status: Status
    http_status: int | None = None
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False
    first_token_ms: int | None = None
    answer_cache_hit: bool = False


def cache_hit(model: str) -> Attempt:
    """A reply served from the answer cache: no model asked, no tokens (attempt 0)."""
    return Attempt(model, model, 0, "ok", answer_cache_hit=True)


class AttemptClock:
    """Times one attempt from the request to its first token, in whole milliseconds."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self.first_token_ms: int | None = None

    def token(self) -> None:
        """A piece of the answer arrived (only the first one counts)."""
        if self.first_token_ms is None:
            self.first_token_ms = round((time.monotonic() - self._start) * 1000)


@dataclass(frozen=True, slots=True)
class RequestLog:
    """A reply's attempts and their context, handed to whoever settles the reply."""

    context: RequestContext
    attempts: Sequence[Attempt]


def _cost(attempt: Attempt, prices: Mapping[str, Mapping[str, int]]) -> int | None:
    """Micro-USD; a cache hit asked no model, so it cost nothing whatever its model's price."""
    if attempt.answer_cache_hit:
        return 0
    return attempt_cost_micros(attempt.served_model, input_tokens=attempt.input_tokens,
                               cached_tokens=attempt.cached_tokens, output_tokens=attempt.output_tokens, table=prices)


async def insert(db: Executor, log: RequestLog, *, ledger_key: str | None,
                 prices: Mapping[str, Mapping[str, int]]) -> None:
    """Write the log's rows, each priced at its served model (`[provider_costs.llm]`).

    Args:
        db: the settle's transaction (chat) or the pool (calls, failures).
        log: the attempts and their context.
        ledger_key: idempotency key of the ledger entry that charged the reply (None: no charge).
        prices: `ProviderCostsConfig.llm`.
    """
    if not log.attempts:
        return
    ctx = log.context
    await db.executemany(
        "INSERT INTO llm_requests (business_id, agent_id, agent_version, channel, conversation_id, call_sid,"
        " message_id, requested_model, served_model, attempt, status, http_status, input_tokens, cached_tokens,"
        " output_tokens, estimated, answer_cache_hit, provider_cost_micros, first_token_ms, ledger_key)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
        [(ctx.business_id, ctx.agent_id, ctx.agent_version, ctx.channel, ctx.conversation_id, ctx.call_sid,
          ctx.message_id, a.requested_model, a.served_model, a.attempt, a.status, a.http_status, a.input_tokens,
          min(a.cached_tokens, a.input_tokens), a.output_tokens, a.estimated, a.answer_cache_hit,
          _cost(a, prices),
          a.first_token_ms, ledger_key) for a in log.attempts])
