"""An agent's token settings: its daily and monthly caps, its output cap and fallback models, and their SQL.

An agent that never changed them has the defaults (no row). The validated field types are
declared once here, so `PUT .../token-settings` and the agent PATCH refuse the same values.
`fallbackModels` is read by the chat reply (`conversations.conversation.answer`, through `TokenGate`).
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec

from llm_usage import token_budgets
from llm_usage.token_budgets import Grant, Limits
from llm_usage.token_caps import (
    DEFAULT_DAILY_LIMIT,
    DEFAULT_MAX_OUTPUT_TOKENS,
    DEFAULT_MONTHLY_LIMIT,
    MAX_FALLBACK_MODELS,
    MAX_OUTPUT_TOKENS,
    MIN_OUTPUT_TOKENS,
)
from storage.executor import Executor
from storage.transactions import transaction

TokenLimit = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000_000,
                                         description="tokens per UTC period; null: no limit")]
OutputTokens = Annotated[int, msgspec.Meta(ge=1, le=MAX_OUTPUT_TOKENS)]
ModelName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
FallbackModels = Annotated[list[ModelName], msgspec.Meta(max_length=MAX_FALLBACK_MODELS)]


# The wire names (of `PUT .../token-settings` and the agent PATCH) of `TokenSettings`' fields.
WIRE_FIELDS = {"daily_token_limit": "daily_limit", "monthly_token_limit": "monthly_limit",
               "max_output_tokens": "max_output_tokens", "fallback_models": "fallback_models"}


def wire_changes(body: object) -> dict[str, Any]:
    """The token settings a request body sent (its fields named as in `WIRE_FIELDS`), by `TokenSettings` name."""
    return {ours: value for wire, ours in WIRE_FIELDS.items()
            if (value := getattr(body, wire, msgspec.UNSET)) is not msgspec.UNSET}


@dataclass(frozen=True, slots=True)
class TokenSettings:
    daily_limit: int | None = DEFAULT_DAILY_LIMIT
    monthly_limit: int | None = DEFAULT_MONTHLY_LIMIT
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
    fallback_models: tuple[str, ...] = field(default=())

    @property
    def limits(self) -> Limits:
        return Limits(self.daily_limit, self.monthly_limit)


async def settings_of(db: Executor, agent_id: uuid.UUID, *, lock: bool = False) -> TokenSettings:
    """The agent's token settings (the defaults when it never changed them); `lock`: FOR UPDATE."""
    row = await db.fetchrow("SELECT daily_limit, monthly_limit, max_output_tokens, fallback_models"
                            " FROM token_settings WHERE agent_id = $1" + (" FOR UPDATE" if lock else ""), agent_id)
    if row is None:
        return TokenSettings()
    return TokenSettings(row["daily_limit"], row["monthly_limit"], row["max_output_tokens"],
                         tuple(row["fallback_models"]))


# The agent's settings (the defaults $8..$10 without a row) and the reservation made with them, in one statement.
_RESERVE = ("SELECT s.daily_limit, s.monthly_limit, s.max_output_tokens, s.fallback_models, r.* FROM"
            " (SELECT CASE WHEN t.agent_id IS NULL THEN $8::bigint ELSE t.daily_limit END AS daily_limit,"
            "         CASE WHEN t.agent_id IS NULL THEN $9::bigint ELSE t.monthly_limit END AS monthly_limit,"
            "         coalesce(t.max_output_tokens, $10::int) AS max_output_tokens,"
            "         coalesce(t.fallback_models, '[]'::jsonb) AS fallback_models"
            "  FROM (SELECT $1::uuid AS agent_id) a LEFT JOIN token_settings t USING (agent_id)) s,"
            " LATERAL " + token_budgets.RESERVE_CALL.format(limits="s.daily_limit, s.monthly_limit",
                                                            max_tokens="s.max_output_tokens") + " r")


async def reserve(db: Executor, agent_id: uuid.UUID, *, prompt_chars: int,
                  now: datetime.datetime | None = None) -> tuple[TokenSettings, Grant]:
    """Read the agent's settings and reserve a request of `prompt_chars` under them, in one round trip:
    what `token_budgets.reserve` does with the settings `settings_of` reads, for a reply's request.

    Raises:
        TokenLimitReached: not even the prompt and `MIN_OUTPUT_TOKENS` fit; nothing reserved.
    """
    at = now if now is not None else datetime.datetime.now(datetime.UTC)
    args = token_budgets.reserve_args(agent_id, at, prompt_chars=prompt_chars, min_output=MIN_OUTPUT_TOKENS,
                                      expires_in=token_budgets.RESERVATION_SECONDS, call_id=None)
    row = await db.fetchrow(_RESERVE, *args, DEFAULT_DAILY_LIMIT, DEFAULT_MONTHLY_LIMIT, DEFAULT_MAX_OUTPUT_TOKENS)
    assert row is not None
    settings = TokenSettings(row["daily_limit"], row["monthly_limit"], row["max_output_tokens"],
                             tuple(row["fallback_models"]))
    return settings, token_budgets.grant_of(row, at)


async def update(db: Executor, agent_id: uuid.UUID, changes: dict[str, Any]) -> TokenSettings:
    """Apply `changes` (TokenSettings field names to values) over the agent's current settings; returns the result.

    The row is locked while merging, so two edits of different fields both land.
    """
    async with transaction(db) as conn:
        await conn.execute("INSERT INTO token_settings (agent_id) VALUES ($1) ON CONFLICT DO NOTHING", agent_id)
        current = await settings_of(conn, agent_id, lock=True)
        fields: dict[str, Any] = {k: tuple(v) if k == "fallback_models" else v for k, v in changes.items()}
        merged = dataclasses.replace(current, **fields)
        await conn.execute(
            "UPDATE token_settings SET daily_limit = $2, monthly_limit = $3, max_output_tokens = $4,"
            " fallback_models = $5, updated_at = now() WHERE agent_id = $1",
            agent_id, merged.daily_limit, merged.monthly_limit, merged.max_output_tokens,
            list(merged.fallback_models))
    return merged
