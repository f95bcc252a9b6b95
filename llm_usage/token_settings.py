"""An agent's token settings: its daily and monthly caps, its output cap and fallback models, and their SQL.

An agent that never changed them has the defaults (no row). The validated field types are
declared once here, so `PUT .../token-settings` and the agent PATCH refuse the same values.
`fallbackModels` is read by the chat reply (`conversations.conversation.answer`, through `TokenGate`).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec

from llm_usage.token_budgets import Limits
from llm_usage.token_caps import (
    DEFAULT_DAILY_LIMIT,
    DEFAULT_MAX_OUTPUT_TOKENS,
    DEFAULT_MONTHLY_LIMIT,
    MAX_FALLBACK_MODELS,
    MAX_OUTPUT_TOKENS,
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
