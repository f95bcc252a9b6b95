"""The model's tool calls in a text conversation (widget, SMS, WhatsApp): run, answered, paid per request.

One turn may take up to `MAX_TOOL_ROUNDS` rounds: the model asks for tools (several at once run
side by side), each result goes back as a `tool` message (at most 4,000 characters), and the
model is asked again. A round past the limit runs nothing: each of its calls is answered
"refused", and the model is asked once more with no tools offered, so it must answer in words.
Every request of the turn passes the agent's token cap and a wallet hold like a chat reply
(`RoundMeter`; on SMS the reply's own price holds for the first request, every later one is held
as a chat request); one that ended in tool calls is charged at once, the answer's own request is
left to the channel to charge.
A call's key is `conversation:tool_call_id`, so a retried turn never acts twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import structlog

from conversations.payment import ReplyPayment
from llm_usage.requests import Attempt, RequestLog
from llm_usage.token_gate import TokenGate
from media.llm.base import LlmError, Message, Tool, ToolCall, Usage
from media.llm.toolbox import ToolBox, ToolOutcome, assistant_calls, refused, tool_result

log = structlog.get_logger(__name__)

MAX_TOOL_ROUNDS: Final = 3
_OVER_LIMIT = ("refused: this turn already used its tool rounds; answer the person now with what you know,"
               " and say what you could not do")


@dataclass(slots=True)
class Asked:
    """One request's answer: its text, the tool calls it asked for, its usage and every attempt it took."""

    text: str
    usage: Usage
    calls: list[ToolCall]
    attempts: list[Attempt]
    model: str
    fell_back: bool = False
    called: bool = False
    """The model wrote tool calls, offered or not (an answer that did is never cached)."""


Ask = Callable[[Sequence[Message], Sequence[Tool] | None, list[Attempt]], Awaitable[Asked]]
"""One request (with the agent's fallback models), its attempts appended to the list as they end; raises LlmError
when it fails or brings neither text nor calls."""


class RoundMeter:
    """Pays a turn's requests as chat requests: each admitted (the token cap, then a wallet hold sized from its
    need), one that ended in tool calls charged at once (`paid`), the answer's own left to the channel.

    Args:
        payment: the wallet.
        business_id: who pays.
        key: the turn's key; request n > 1 holds and charges under `key:round{n}`.
        tokens: the agent's token cap (None: none).
        requests: the `llm_requests` context of the turn's rows (None: not recorded).
        first_paid: the channel's own reservation pays for the first request (SMS: the reply's price), so
            only later ones are held here.
        admitted: awaited after each request is admitted, before the model is asked (the widget stores the
            visitor's message there, so a refused turn stores nothing).
    """

    def __init__(self, payment: ReplyPayment, business_id: uuid.UUID, key: str, *, tokens: TokenGate | None,
                 requests: Callable[[list[Attempt]], RequestLog | None], first_paid: bool = False,
                 admitted: Callable[[], Awaitable[None]] | None = None) -> None:
        self._payment = payment
        self._business_id = business_id
        self._base = key
        self._tokens = tokens
        self._requests = requests
        self._first_paid = first_paid
        self._admitted = admitted
        self.round = 0
        self.handle: object | None = None
        """The hold of the request in flight (or of the answer, once it came)."""
        self.first_attempts: list[Attempt] = []
        """The attempts of a first request the channel pays for, once it ended in tool calls."""

    @property
    def key(self) -> str:
        """The key of the current request's hold and charge."""
        return self._base if self.round <= 1 else f"{self._base}:round{self.round}"

    async def admit(self, messages: Sequence[Message]) -> int | None:
        """Before each request: reserve its tokens, then its price; a refused hold frees the tokens.

        Raises:
            TokenLimitReached, CannotPay: nothing reserved; the model must not be asked.
        """
        self.round += 1
        max_tokens = None if self._tokens is None else await self._tokens.admit(messages)
        if not (self._first_paid and self.round == 1):
            need = None if self._tokens is None or self._tokens.grant is None else self._tokens.grant.need
            try:
                self.handle = await self._payment.reserve(self._business_id, "chat", self.key, tokens=need)
            except BaseException:
                if self._tokens is not None:
                    await asyncio.shield(self._tokens.release())
                raise
        if self._admitted is not None:
            await self._admitted()
        return max_tokens

    async def paid(self, usage: Usage, attempts: list[Attempt]) -> None:
        """A request that ended in tool calls: its tokens counted, its price charged with its rows (a first
        request the channel pays for: its rows wait for the channel's charge, with the answer's)."""
        if self._tokens is not None:
            await self._tokens.settle(usage.prompt_tokens + usage.completion_tokens)
        handle, self.handle = self.handle, None
        if handle is not None:
            await self._payment.charge(handle, channel="chat", key=self.key, prompt_tokens=usage.prompt_tokens,
                                       completion_tokens=usage.completion_tokens, requests=self._requests(attempts))
        elif self._first_paid:
            self.first_attempts.extend(attempts)

    async def cancel(self, attempts: list[Attempt]) -> None:
        """The request in flight failed (or the turn was cancelled): free its tokens and its hold."""
        if self._tokens is not None:
            await asyncio.shield(self._tokens.release())
        handle, self.handle = self.handle, None
        if handle is not None:
            await asyncio.shield(self._payment.cancel(handle, requests=self._requests(attempts)))


@dataclass(slots=True)
class ToolRounds:
    """A turn's tools: the agent's toolbox, the conversation the calls' keys name, and how requests are paid."""

    toolbox: ToolBox
    conversation: str
    meter: RoundMeter
    calls: list[tuple[ToolCall, ToolOutcome]] = field(default_factory=list)
    """Every call of the turn and what it answered, in order (for logs and tests)."""
    in_flight: list[Attempt] = field(default_factory=list)
    """The attempts of the request being asked (the answer's, once it came): recorded by whoever settles it."""

    def key(self, call: ToolCall) -> str:
        return f"{self.conversation}:{call.id}"


async def _run_one(rounds: ToolRounds, call: ToolCall) -> ToolOutcome:
    """One call's outcome; unreadable arguments and a failing tool are answered, never raised."""
    if call.error is not None:
        return refused(call, call.error)
    try:
        return await rounds.toolbox.run(call, rounds.key(call))
    except Exception:
        log.exception("tool_failed", tool=call.name)
        return refused(call, "the tool failed; tell the person it could not be done now")


async def run_rounds(ask: Ask, messages: Sequence[Message], rounds: ToolRounds) -> Asked:
    """Ask, run the tools the model calls, ask again, until it answers in words (at most 3 tool rounds).

    Returns:
        The answering request (its attempts not yet recorded: the channel charges it).

    Raises:
        LlmError: a request failed, or the model answered with no text; the hold in flight is the caller's to free.
    """
    offered = list(rounds.toolbox.definitions())
    request = list(messages)
    for number in range(1, MAX_TOOL_ROUNDS + 2):
        rounds.in_flight = []
        asked = await ask(request, offered, rounds.in_flight)
        if not asked.calls:
            return asked
        await rounds.meter.paid(asked.usage, asked.attempts)
        request.append(assistant_calls(asked.text, asked.calls))
        if number > MAX_TOOL_ROUNDS:
            outcomes = [refused(c, _OVER_LIMIT) for c in asked.calls]
        else:
            outcomes = list(await asyncio.gather(*(_run_one(rounds, c) for c in asked.calls)))
        rounds.calls.extend(zip(asked.calls, outcomes, strict=True))
        request.extend(tool_result(c, o) for c, o in zip(asked.calls, outcomes, strict=True))
    rounds.in_flight = []
    final = await ask(request, None, rounds.in_flight)
    if not final.text:
        raise LlmError("the model answered with no text")
    return final
