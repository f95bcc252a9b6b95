"""A call's tokens: reserved in blocks ahead of its answers, so no turn waits on the database.

A call reserves `CALL_BLOCK_TOKENS` when its stream starts and counts each answer's reported
tokens against it from the call's background recorder (never the audio path). When less than
`CALL_MIN_TOKENS` of the block is left, the next block is reserved before the old one settles
(so what the call already used stays covered); when no block of at least `CALL_MIN_TOKENS` can
be reserved, the agent is at its cap and `count` says so once. At the end the block settles with
what was counted; a block whose process died expires with the call's longest duration and the
sweeper settles it from the call's `llm_requests` rows (`token_budgets.sweep`): each block names
its call, and every row is counted once across the call's blocks.
"""

from __future__ import annotations

import asyncio
import uuid

from llm_usage import token_budgets, token_settings
from llm_usage.token_budgets import Grant
from llm_usage.token_caps import CALL_BLOCK_TOKENS, CALL_MIN_TOKENS, TokenLimitReached
from storage.executor import Executor


class CallTokens:
    def __init__(self, db: Executor, agent_id: uuid.UUID, *, call_id: uuid.UUID, expires_in: float) -> None:
        self._db = db
        self._agent_id = agent_id
        self._call_id = call_id
        self._expires_in = expires_in
        self._grant: Grant | None = None
        self._counted = 0
        self._spent = False
        self._lock = asyncio.Lock()

    async def _reserve(self) -> Grant:
        settings = await token_settings.settings_of(self._db, self._agent_id)
        return await token_budgets.reserve(self._db, self._agent_id, settings.limits, prompt_chars=0,
                                           max_tokens=CALL_BLOCK_TOKENS, min_output=CALL_MIN_TOKENS,
                                           expires_in=self._expires_in, call_id=self._call_id)

    async def start(self) -> None:
        """Reserve the call's first block.

        Raises:
            TokenLimitReached: not even `CALL_MIN_TOKENS` are left.
        """
        async with self._lock:
            try:
                self._grant = await self._reserve()
            except TokenLimitReached:
                self._spent = True
                raise

    async def count(self, tokens: int) -> None:
        """Count an answer's tokens; refill the block when less than `CALL_MIN_TOKENS` of it is left.

        Raises:
            TokenLimitReached: the block is nearly spent and no new one fits (raised once per call).
        """
        async with self._lock:
            self._counted += max(0, tokens)
            if self._grant is None or self._spent or self._grant.need - self._counted >= CALL_MIN_TOKENS:
                return
            try:
                fresh = await self._reserve()
            except TokenLimitReached:
                self._spent = True
                raise
            await token_budgets.settle(self._db, self._grant.id, self._counted)
            self._grant, self._counted = fresh, 0

    async def close(self) -> None:
        """The call is over: settle its block with what was counted."""
        async with self._lock:
            if self._grant is not None:
                await token_budgets.settle(self._db, self._grant.id, self._counted)
                self._grant, self._counted = None, 0
