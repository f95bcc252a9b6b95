"""One assistant turn of a text conversation: the agent's prompt and the thread in, a reply out.

Shared by SMS and the website widget. When the visitor's question clearly matches one of
the agent's FAQ entries, the stored answer is used and no model is called (free and
instant); otherwise the reply streams from the process's LLM provider, each piece handed to
`on_delta` as it arrives, and the token usage is returned for storage and metering.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Literal, Protocol

from conversations.tool_rounds import Asked, ToolRounds, run_rounds
from knowledge.grounding import Citation, Grounding, Reference, citations, reference_block
from llm_usage.requests import Attempt, AttemptClock
from media.llm.base import LlmError, LlmProvider, Message, TextDelta, Tool, ToolCall, Usage
from media.llm.faq import FaqEntry, match_faq

Channel = Literal["sms", "widget"]
AnsweredBy = Literal["faq", "llm", "fallback", "cache"]
OnDelta = Callable[[str], Awaitable[None]]
# Called with the request's messages right before the model is asked; returns the `max_tokens` to send
# (a token cap; None: the server's own), or raises to ask nothing (`TokenLimitReached`, `CannotPay`).
Admit = Callable[[Sequence[Message]], Awaitable[int | None]]
# The agent's fallback models, in order; read once the request is admitted (the token gate reads them with the caps).
Fallbacks = Callable[[], Sequence[str]]
# The 4xx statuses that still move on to the next model (the server timed out or is rate-limiting); every 5xx does.
_FALLBACK_STATUSES = frozenset({408, 429})

_CHANNEL_RULES: dict[Channel, str] = {
    "sms": "You are replying by text message: plain text only, no markdown, two or three short sentences."
           " Do not write out web addresses (URLs), not even those in the reference material, unless the"
           " person asks for a link.",
    "widget": "You are chatting with a visitor on the business's website: plain text, short and friendly.",
}


class QuestionAnswer(Protocol):
    @property
    def question(self) -> str: ...

    @property
    def answer(self) -> str: ...


class AgentProfile(Protocol):
    """What a conversation needs of an agent (`agent_server.agents.Agent` satisfies it)."""

    @property
    def business_id(self) -> uuid.UUID:
        """Whose wallet pays for the conversation."""
        ...

    @property
    def name(self) -> str: ...

    @property
    def system_prompt(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def temperature(self) -> float | None: ...

    @property
    def faq(self) -> Sequence[QuestionAnswer]: ...


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier message of the thread."""

    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True, slots=True)
class ModelDefaults:
    """Used when the agent names no model or temperature of its own."""

    model: str
    temperature: float
    # With a fallback model left to try, how long an attempt may go without its first token (`[llm]`).
    first_token_timeout: float = 4.0


@dataclass(frozen=True, slots=True)
class Reply:
    """The assistant's answer and what it cost in tokens (zero for an FAQ or cached answer)."""

    text: str
    answered_by: AnsweredBy
    prompt_tokens: int
    completion_tokens: int
    # The pages the answer drew on (knowledge base), for the widget to show.
    sources: tuple[Citation, ...] = ()
    # Why the model gave no answer, when this is the unavailable text sent in its place.
    failure: str | None = None
    # The model called a tool on the way: the answer depended on more than the question (never cached).
    used_tools: bool = False
    # The model that wrote the answer (a fallback when the channel's model failed); None: no model was asked.
    model: str | None = None
    # A fallback model wrote it: the answer cache keeps only the agent's own model's answers.
    fell_back: bool = False


def faq_of(agent: AgentProfile) -> tuple[FaqEntry, ...]:
    return tuple(FaqEntry(e.question, e.answer) for e in agent.faq)


def system_prompt(agent: AgentProfile, channel: Channel) -> str:
    """The agent's own prompt, the channel's manners, and its FAQ as known facts.

    Nothing per conversation or turn goes here (knowledge, time, who writes): the message is
    byte-identical for an agent version and channel, so a provider's prompt cache serves it
    across conversations (`tests/llm_usage/test_stable_prefix.py`).
    """
    parts = [agent.system_prompt.strip() or f"You are the assistant of {agent.name}. Answer briefly.",
             _CHANNEL_RULES[channel]]
    if agent.faq:
        parts.append("Known answers:\n" + "\n".join(f"Q: {e.question}\nA: {e.answer}" for e in agent.faq))
    return "\n\n".join(parts)


def build_messages(agent: AgentProfile, history: Sequence[Turn], user_text: str,
                   channel: Channel, references: Sequence[Reference] = ()) -> list[Message]:
    """OpenAI chat messages: system prompt, the thread oldest first, then the new question.

    Knowledge-base excerpts follow the question in the same (last) user turn, in a block
    declared to be data: after the history, so no earlier turn can be read as their context.
    """
    messages: list[Message] = [{"role": "system", "content": system_prompt(agent, channel)}]
    messages.extend({"role": t.role, "content": t.text} for t in history)
    block = reference_block(references)
    messages.append({"role": "user", "content": f"{user_text}\n\n{block}" if block else user_text})
    return messages


def estimate_tokens(text: str) -> int:
    """Rough token count (four characters a token) for servers that report no usage."""
    return math.ceil(len(text) / 4)


def falls_back(exc: LlmError) -> bool:
    """Whether the next model may answer where this attempt failed: unreachable, slow, rate-limited or broken.

    Any other 4xx (a bad request or key, an unknown model) says the request itself is wrong.
    """
    return exc.timeout or exc.status is None or exc.status in _FALLBACK_STATUSES or exc.status >= 500


@dataclass(slots=True)
class _Streamed:
    usage: Usage | None = None
    calls: list[ToolCall] = field(default_factory=list)


async def _stream(llm: LlmProvider, messages: Sequence[Message], model: str, *, temperature: float,
                  faq: Sequence[FaqEntry], max_tokens: int | None, pieces: list[str], on_delta: OnDelta | None,
                  clock: AttemptClock, first_token_timeout: float | None, tools: Sequence[Tool] | None) -> _Streamed:
    """One attempt: its text appended to `pieces` (and handed to `on_delta`) as it arrives.

    Raises:
        LlmError: the attempt failed; `timeout` when no first token (text or tool call) came in time.
    """
    out = _Streamed()
    stream = llm.stream_chat(messages, model=model, temperature=temperature, faq=faq, max_tokens=max_tokens,
                             tools=tools or None)
    deadline = asyncio.timeout(first_token_timeout)
    try:
        async with deadline, aclosing(stream):
            async for event in stream:
                if isinstance(event, TextDelta) and event.text:
                    deadline.reschedule(None)
                    clock.token()
                    pieces.append(event.text)
                    if on_delta is not None:
                        await on_delta(event.text)
                elif isinstance(event, ToolCall):
                    deadline.reschedule(None)
                    out.calls.append(event)
                elif isinstance(event, Usage):
                    out.usage = event
    except TimeoutError:
        if not deadline.expired():
            raise
        raise LlmError(f"no first token from {model} within {first_token_timeout} s", retryable=True,
                       timeout=True) from None
    return out


async def answer(llm: LlmProvider, agent: AgentProfile, history: Sequence[Turn], user_text: str, *,
                 channel: Channel, defaults: ModelDefaults, on_delta: OnDelta | None = None,
                 admit: Admit | None = None, grounding: Grounding | None = None, attempts: list[Attempt] | None = None,
                 fallbacks: Fallbacks | None = None, tools: ToolRounds | None = None) -> Reply:
    """Answer `user_text`: from the FAQ when one entry clearly matches, else from the model.

    Args:
        llm: the process's LLM provider.
        agent: whose prompt, model and FAQ to use.
        history: earlier messages of this thread, oldest first.
        user_text: the new message.
        channel: how the reply will be delivered (shapes the system prompt).
        defaults: model and temperature when the agent sets none.
        on_delta: awaited with each piece of text as it arrives.
        grounding: the agent's knowledge base, searched with the message (None: no retrieval).
        admit: the token cap, passed before the model is asked (never for an FAQ answer); with `tools`, their
            meter admits each request instead.
        attempts: given, gains an `Attempt` per request sent to the model, failed ones included, for
            `llm_requests`, numbered from 1 (its served model is the one asked: a provider's dated alias would
            be unpriced). With `tools`, only the answering request's (the tool rounds' are charged with them).
        fallbacks: the models to try in turn when an attempt fails before any text reached the person
            (`falls_back`); once text streamed, a failure is final. An attempt with a model left after it
            gets `defaults.first_token_timeout` for its first token; the last waits as long as the provider does.
        tools: the agent's tools (`conversations.tool_rounds`); None: the model is offered none.

    Raises:
        LlmError: the last model tried failed (or failed after streaming text), or answered with no text.
    """
    faq = faq_of(agent)
    known = match_faq(user_text, faq)
    if known is not None:
        if on_delta is not None:
            await on_delta(known)
        return Reply(known, "faq", 0, 0)
    references: Sequence[Reference] = ()
    if grounding is not None:
        previous = next((t.text for t in reversed(history) if t.role == "user"), None)
        references = await grounding.references(user_text, previous)
    messages = build_messages(agent, history, user_text, channel, references)
    temperature = defaults.temperature if agent.temperature is None else agent.temperature
    requested = agent.model or defaults.model
    pieces: list[str] = []
    admit_each = admit if tools is None else tools.meter.admit

    async def ask(request: Sequence[Message], offered: Sequence[Tool] | None, notes: list[Attempt]) -> Asked:
        max_tokens = None if admit_each is None else await admit_each(request)
        chain = [requested, *(() if fallbacks is None else fallbacks())]
        if pieces and not pieces[-1][-1:].isspace():
            pieces.append(" ")  # a new round's words after the last round's
            if on_delta is not None:
                await on_delta(" ")
        streamed_before = len(pieces)
        for number, model in enumerate(chain, 1):
            clock = AttemptClock()
            try:
                streamed = await _stream(llm, request, model, temperature=temperature, faq=faq, max_tokens=max_tokens,
                                         pieces=pieces, on_delta=on_delta, clock=clock, tools=offered,
                                         first_token_timeout=defaults.first_token_timeout if number < len(chain) else None)
            except LlmError as exc:
                notes.append(Attempt(requested, model, number, "timeout" if exc.timeout else "error", exc.status,
                                     first_token_ms=clock.first_token_ms))
                if len(pieces) > streamed_before or number == len(chain) or not falls_back(exc):
                    raise
                continue
            break
        text = "".join(pieces[streamed_before:]).strip()
        calls = streamed.calls if offered else []
        if not text and not calls:
            notes.append(Attempt(requested, model, number, "error", first_token_ms=clock.first_token_ms))
            raise LlmError("the model answered with no text")
        usage = streamed.usage
        estimated = usage is None
        if usage is None:
            usage = Usage(sum(estimate_tokens(str(m.get("content") or "")) for m in request), estimate_tokens(text))
        # The local responder speaks no HTTP; every other provider's answer came with a 200.
        http_status = None if llm.name == "local" else 200
        notes.append(Attempt(requested, model, number, "ok", http_status, usage.prompt_tokens, usage.cached_tokens,
                             usage.completion_tokens, estimated, clock.first_token_ms))
        return Asked(text, usage, calls, notes, model, number > 1, called=bool(streamed.calls))

    notes = attempts if attempts is not None else []
    if tools is None:
        asked = await ask(messages, None, notes)
        if not asked.text:
            raise LlmError("the model answered with no text")
    else:
        asked = await run_rounds(ask, messages, tools)
        notes.extend(asked.attempts)
    usage = asked.usage
    return Reply("".join(pieces).strip(), "llm", usage.prompt_tokens, usage.completion_tokens, citations(references),
                 used_tools=asked.called or (tools is not None and bool(tools.calls)), model=asked.model,
                 fell_back=asked.fell_back)
