"""The token report: `llm_requests` rows summed per UTC day or per served model, beside what the ledger charged.

Counts, as the report names them: `requests` are attempts sent to a model (an answer-cache hit
asked none, it is counted in `answer_cache_hits`); `failed_attempts` those that ended in an
error or a timeout; `fallbacks` attempts after the first of a reply (a fallback model's);
`estimated_requests` attempts whose tokens are the 4-characters-a-token estimate;
`unpriced_requests` attempts of a model without a price (their cost is left out of
`provider_cost_micros`, never guessed). `charged` sums, per currency, the ledger entries the
rows point to, each entry once (a reply's attempts share its entry), in the group of the
reply's last attempt. A call's rows carry tokens and cost but no entry: calls are charged per
minute (`GET /api/usage`).
"""

from __future__ import annotations

import datetime
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from storage.executor import Executor

Group = Literal["day", "model"]
_COUNTS = ("requests", "failed_attempts", "fallbacks", "input_tokens", "cached_tokens", "output_tokens",
           "estimated_requests", "provider_cost_micros", "unpriced_requests", "answer_cache_hits")


@dataclass(slots=True)
class TokenTotals:
    """One group's sums (or the whole range's)."""

    requests: int = 0
    failed_attempts: int = 0
    fallbacks: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    estimated_requests: int = 0
    provider_cost_micros: int = 0
    unpriced_requests: int = 0
    answer_cache_hits: int = 0
    charged: dict[str, int] = field(default_factory=dict)

    def add(self, other: TokenTotals) -> None:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for currency, amount in other.charged.items():
            self.charged[currency] = self.charged.get(currency, 0) + amount


@dataclass(frozen=True, slots=True)
class ReportFilter:
    business_id: uuid.UUID
    start: datetime.datetime
    end: datetime.datetime
    agent_id: uuid.UUID | None = None
    channel: str | None = None


# One scan of the range: `r` is read once for the sums and for the charges (each ledger entry once, in the
# group of the reply's last attempt).
_REPORT = """
WITH r AS MATERIALIZED (
    SELECT id, attempt, status, input_tokens, cached_tokens, output_tokens, estimated, answer_cache_hit,
           provider_cost_micros, ledger_key, {key} AS k
    FROM llm_requests
    WHERE business_id = $1 AND created_at >= $2 AND created_at < $3
      AND ($4::uuid IS NULL OR agent_id = $4) AND ($5::text IS NULL OR channel = $5)
), charges AS (
    SELECT DISTINCT ON (ledger_key) ledger_key, k FROM r WHERE ledger_key IS NOT NULL
    ORDER BY ledger_key, attempt DESC, id DESC
), charged AS (
    SELECT k, jsonb_object_agg(currency, amount) AS charged FROM (
        SELECT c.k, w.currency, -sum(e.amount) AS amount
        FROM charges c
        JOIN ledger_entries e ON e.idempotency_key = c.ledger_key
        JOIN wallets w ON w.id = e.wallet_id AND w.business_id = $1
        GROUP BY 1, 2) per_currency
    GROUP BY k
)
SELECT s.*, coalesce(ch.charged, '{{}}'::jsonb) AS charged FROM (
    SELECT k,
           count(*) FILTER (WHERE NOT answer_cache_hit) AS requests,
           count(*) FILTER (WHERE status <> 'ok') AS failed_attempts,
           count(*) FILTER (WHERE attempt > 1) AS fallbacks,
           coalesce(sum(input_tokens), 0) AS input_tokens,
           coalesce(sum(cached_tokens), 0) AS cached_tokens,
           coalesce(sum(output_tokens), 0) AS output_tokens,
           count(*) FILTER (WHERE estimated) AS estimated_requests,
           coalesce(sum(provider_cost_micros), 0) AS provider_cost_micros,
           count(*) FILTER (WHERE provider_cost_micros IS NULL) AS unpriced_requests,
           count(*) FILTER (WHERE answer_cache_hit) AS answer_cache_hits
    FROM r GROUP BY k) s
LEFT JOIN charged ch USING (k)
ORDER BY k
"""
# The group key: the UTC day as a date (formatted once per group, not per row), or the served model.
_KEYS = {"day": "(created_at AT TIME ZONE 'UTC')::date", "model": "served_model"}


async def token_report(db: Executor, where: ReportFilter, group: Group) -> dict[str, TokenTotals]:
    """The rows of `where` per group key (a `YYYY-MM-DD` UTC day or a served model), ordered by key."""
    rows = await db.fetch(_REPORT.format(key=_KEYS[group]), where.business_id, where.start, where.end,
                          where.agent_id, where.channel)
    report: dict[str, TokenTotals] = {}
    for row in rows:
        key = row["k"]
        totals = report[key.isoformat() if isinstance(key, datetime.date) else key] = TokenTotals()
        for name in _COUNTS:
            setattr(totals, name, int(row[name]))
        totals.charged = {currency: int(amount) for currency, amount in _as_dict(row["charged"]).items()}
    return report


def _as_dict(value: object) -> dict[str, Any]:
    """The charges' jsonb, decoded by the pool's codec (or, on a bare connection, still text)."""
    decoded = json.loads(value) if isinstance(value, str) else value
    assert isinstance(decoded, dict)
    return decoded
