"""One reply's passage through its agent's token caps: admitted just before the model is asked, settled after.

A text reply makes one `TokenGate`; the conversation code calls `admit` with the request's
messages right before asking the model (so an FAQ or cached answer never touches the caps),
then `settle` with the tokens the provider reported, or `release` when no answer came. The
agent's settings are read at `admit`, in the reservation's own round trip, so a change applies
to the next reply; its fallback models come with them (`fallback_models`), so a reply reads the
agent's settings once.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from typing import Any

from llm_usage import token_budgets, token_settings
from llm_usage.token_budgets import Grant
from llm_usage.token_settings import TokenSettings
from storage.executor import Executor


def prompt_chars(messages: Sequence[Any]) -> int:
    """Characters of every message's text content: what a request's prompt estimate is taken from."""
    return sum(len(str(m.get("content") or "")) for m in messages)


class TokenGate:
    def __init__(self, db: Executor, agent_id: uuid.UUID, *, now: datetime.datetime | None = None) -> None:
        self._db = db
        self._agent_id = agent_id
        self._now = now
        self.grant: Grant | None = None
        self._settings: TokenSettings | None = None

    async def admit(self, messages: Sequence[Any]) -> int:
        """Reserve the request's need; returns the `max_tokens` to send (the agent's, or less to fit).

        Raises:
            TokenLimitReached: nothing reserved; the model must not be asked.
        """
        self._settings, self.grant = await token_settings.reserve(self._db, self._agent_id,
                                                                  prompt_chars=prompt_chars(messages), now=self._now)
        return self.grant.max_tokens

    def fallback_models(self) -> tuple[str, ...]:
        """The models to try in turn when the agent's own fails, as read at `admit` (none before it)."""
        return () if self._settings is None else self._settings.fallback_models

    async def settle(self, tokens: int) -> None:
        """Count the reply's reported tokens (prompt and output); nothing when the model was not asked."""
        if self.grant is not None:
            await token_budgets.settle(self._db, self.grant.id, tokens, now=self._now)

    async def release(self) -> None:
        """Free the reservation unused (the model failed, or the wallet refused)."""
        if self.grant is not None:
            await token_budgets.release(self._db, self.grant.id, now=self._now)
