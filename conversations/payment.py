"""How a text reply is paid for, as the chat code sees it: reserve before the model runs, charge after.

The conversation code knows nothing of wallets; it is handed a `ReplyPayment` and calls it
at the two moments that matter. The app provides the wallet-backed one
(agent_server/reply_billing.py).
"""

from __future__ import annotations

import uuid
from typing import Literal, Protocol

from llm_usage.requests import RequestLog

Channel = Literal["sms", "chat"]


class CannotPay(Exception):
    """The business's wallet can't pay for this reply: produce none (no model call)."""


class ReplyPayment(Protocol):
    async def reserve(self, business_id: uuid.UUID, channel: Channel, key: str, *, cached: bool = False,
                      tokens: int | None = None) -> object:
        """Set the reply's price aside (`cached`: the cache-hit price); the handle goes to `charge` or `cancel`.

        `tokens` sizes a chat reply's reservation (the need its token cap reserved; None: the default size).

        Raises:
            CannotPay: nothing reserved; the caller must not ask the model.
        """
        ...

    async def charge(self, handle: object, *, channel: Channel, key: str, prompt_tokens: int,
                     completion_tokens: int, cached: bool = False, requests: RequestLog | None = None) -> int:
        """Charge the reply that was produced (`cached`: from the answer cache); returns the minor units charged.

        `requests` (the reply's LLM attempts) are recorded in the same transaction as the charge.
        """
        ...

    async def cancel(self, handle: object, *, requests: RequestLog | None = None) -> None:
        """No reply was produced (the model failed, the visitor left): free the reservation, record `requests`."""
        ...
