"""The analysis of one ended conversation: one metered LLM request, its answer checked, the lead stored.

Only conversations where the person wrote or said at least two messages are analysed (the
rest are `skipped`). The request asks for the strict JSON schema of `outcomes.schema`; the
answer is validated here whatever the server claims, with one repair request that quotes
the error, and then `analysis_failed` keeps the raw text. The price is reserved before the
model runs and the tokens of both requests charged after, as a chat reply is
(`conversations.payment.ReplyPayment`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import msgspec
import structlog

from conversations.conversation import estimate_tokens
from conversations.payment import CannotPay, ReplyPayment
from jobs.runner import Clock
from llm_usage.requests import Attempt, RequestContext, RequestLog
from media.llm.base import Completion, LlmError, Message, Usage
from outcomes import lead_records, leads, notifications, records, transcript, unsubscribe
from outcomes.config import OutcomesConfig
from outcomes.records import AnalysisStatus, Outcome
from outcomes.schema import CustomField, decode_analysis, parse_custom_fields, response_format
from storage.executor import Executor
from storage.transactions import transaction

log = structlog.get_logger(__name__)

MIN_USER_MESSAGES = 2
INSTRUCTIONS = (
    "You read a finished conversation between a business's agent and a customer and report on it as JSON"
    " that matches the given schema exactly. summary: at most three sentences. sentiment: the customer's."
    " outcome: resolved, needs_followup, handoff (the customer asked for a person) or spam. topics: a few"
    " short topics. lead: only what the customer said about themselves (name, phone, email, company) and"
    " what they want; null for anything they did not say, never a guess; confidence 0-100 that this is a"
    " real prospect, with the reason. fields: the business's own fields, null when not mentioned."
    " Answer with the JSON document only."
)


class JsonChat(Protocol):
    """A chat model that answers one whole completion (`media.llm.openai_sse.OpenAiSseChat`)."""

    async def complete(self, messages: Sequence[Message], *, model: str, temperature: float = 0.0,
                       response_format: Mapping[str, Any] | None = None) -> Completion: ...


@dataclasses.dataclass(frozen=True)
class Answer:
    parsed: msgspec.Struct | None
    raw: str
    error: str | None
    prompt_tokens: int
    completion_tokens: int


class Analyser:
    """Analyses claimed conversations; `llm` None fails each one (no model is configured).

    The emails an analysis causes (the conversation's summary, a new lead, which repeats the
    summary) carry each recipient's one-click unsubscribe link from `links`, as the weekly
    summary does: they are the frequent ones, the kind a member most wants to stop in one click.
    """

    def __init__(self, pool: Executor, llm: JsonChat | None, payment: ReplyPayment, config: OutcomesConfig, *,
                 links: unsubscribe.Links, clock: Clock) -> None:
        self._pool = pool
        self._llm = llm
        self._payment = payment
        self._config = config
        self._links = links
        self._clock = clock

    def claim_until(self) -> tuple[datetime.datetime, datetime.datetime]:
        now = self._clock()
        return now, now + datetime.timedelta(seconds=self._config.claim_seconds)

    async def analyse_one(self, outcome_id: uuid.UUID, *, force: bool = False) -> Outcome | None:
        """Claim and analyse one conversation; None when another runner holds it (or it is done, without force)."""
        now, until = self.claim_until()
        outcome = await records.claim(self._pool, outcome_id, now=now, until=until, force=force)
        if outcome is None:
            return None
        await self.analyse(outcome)
        return await records.find(self._pool, outcome.id)

    async def analyse_batch(self, outcomes: Sequence[Outcome]) -> None:
        """Analyse claimed conversations, `sweep_concurrency` LLM requests at a time."""
        gate = asyncio.Semaphore(self._config.sweep_concurrency)

        async def one(outcome: Outcome) -> None:
            async with gate:
                try:
                    await self.analyse(outcome)
                except LlmError as exc:
                    log.warning("analysis_llm_failed", conversation_id=str(outcome.id), error=str(exc))

        await asyncio.gather(*(one(o) for o in outcomes))

    async def analyse(self, outcome: Outcome) -> AnalysisStatus:
        """Analyse a claimed conversation and store the result.

        Raises:
            LlmError: the model could not be reached; the conversation is pending again.
        """
        turns = await transcript.turns_of(self._pool, outcome)
        if transcript.user_message_count(turns) < MIN_USER_MESSAGES:
            return await self._finish(outcome, "skipped", error="fewer than two messages from the person")
        if self._llm is None:
            return await self._finish(outcome, "analysis_failed", error="no LLM configured (OPENAI_API_KEY)")
        model, raw_fields = await records.agent_settings(self._pool, outcome.agent_id)
        try:
            fields = parse_custom_fields(raw_fields)
        except ValueError as exc:
            log.warning("analysis_custom_fields_ignored", agent_id=str(outcome.agent_id), error=str(exc))
            fields = ()
        key = f"analysis:{outcome.id}:{outcome.analysis_attempts}"
        try:
            handle = await self._payment.reserve(outcome.business_id, "chat", key)
        except CannotPay:
            return await self._finish(outcome, "analysis_failed", error="the wallet can't pay for the analysis")
        text = transcript.render(turns, self._config.transcript_budget_tokens)
        attempts: list[Attempt] = []
        rows = RequestLog(RequestContext(outcome.business_id, outcome.agent_id, None, "analysis",
                                         conversation_id=outcome.id), attempts)
        try:
            answer = await self._ask(self._llm, text, model or self._config.model, fields, attempts)
        except BaseException:
            await self._payment.cancel(handle, requests=rows)
            await self._finish(outcome, "pending", error="the model could not be reached")
            raise
        charged = await self._payment.charge(handle, channel="chat", key=key, prompt_tokens=answer.prompt_tokens,
                                             completion_tokens=answer.completion_tokens, requests=rows)
        if answer.parsed is None:
            return await self._finish(outcome, "analysis_failed", raw_output=answer.raw, error=answer.error,
                                      prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens,
                                      charged=charged)
        person = "\n".join(t.text for t in turns if t.role == "user")
        return await self._store(outcome, answer, person, charged)

    async def _ask(self, llm: JsonChat, text: str, model: str, fields: tuple[CustomField, ...],
                   attempts: list[Attempt]) -> Answer:
        """The analysis, asked again once when it doesn't decode; each request is an `llm_requests` row in
        `attempts` (the repair too: a new request, not a fallback, so both are attempt 1)."""
        messages: list[Message] = [{"role": "system", "content": INSTRUCTIONS},
                                   {"role": "user", "content": f"Transcript:\n{text}"}]
        fmt = response_format(fields)
        prompt = completion = 0
        raw, error = "", None
        for _ in range(2):  # the request, then one repair
            try:
                answer = await llm.complete(messages, model=model, temperature=self._config.temperature,
                                            response_format=fmt)
            except LlmError as exc:
                attempts.append(Attempt(model, model, 1, "timeout" if exc.timeout else "error", exc.status))
                raise
            raw = answer.text
            usage = answer.usage or Usage(sum(estimate_tokens(str(m["content"])) for m in messages),
                                          estimate_tokens(raw))
            prompt += usage.prompt_tokens
            completion += usage.completion_tokens
            attempts.append(Attempt(model, model, 1, "ok", None, usage.prompt_tokens, usage.cached_tokens,
                                    usage.completion_tokens, answer.usage is None))
            try:
                return Answer(decode_analysis(raw, fields), raw, None, prompt, completion)
            except msgspec.ValidationError as exc:
                error = f"invalid analysis: {exc}"
                messages += [{"role": "assistant", "content": raw},
                             {"role": "user", "content": f"That answer is not valid ({exc}). Answer again with"
                                                         " only the JSON document the schema describes."}]
        return Answer(None, raw, error, prompt, completion)

    async def _store(self, outcome: Outcome, answer: Answer, person: str, charged: int) -> AnalysisStatus:
        assert answer.parsed is not None
        result: dict[str, Any] = msgspec.to_builtins(answer.parsed)
        lead = result["lead"]
        channel_id = outcome.contact_address if outcome.channel != "widget" else None
        region = await records.business_region(self._pool, outcome.business_id)
        decision = leads.decide(leads.LeadClaim(lead["name"], lead["phone"], lead["email"]), person_text=person,
                                channel_id=channel_id, region=region)
        result["leadCheck"] = {"accepted": decision.accepted, "reason": decision.reason}
        now = self._clock()
        async with transaction(self._pool) as conn:
            if not await records.finish(conn, outcome, status="analysed", analysis=result, raw_output=answer.raw,
                                        now=now, prompt_tokens=answer.prompt_tokens,
                                        completion_tokens=answer.completion_tokens, charged=charged):
                return "running"
            values = {"channel": outcome.channel, "summary": result["summary"]}
            if decision.accepted:
                stored = await lead_records.store_lead(
                    conn, business_id=outcome.business_id, conversation_id=outcome.id, channel=outcome.channel,
                    decision=decision, company=lead["company"], intent=lead["intent"], confidence=lead["confidence"],
                    reason=lead["reason"], custom_fields=result["fields"], now=now)
                if stored.created:
                    shown = {"name": decision.name, "phone": decision.phone, "email": decision.email,
                             "company": lead["company"], "intent": lead["intent"],
                             "confidence": lead["confidence"], "from_channel_id": decision.from_channel_id}
                    await notifications.notify(
                        conn, outcome.business_id, "new_lead", "new_lead", {**values, "lead": shown},
                        event_key=str(stored.lead_id), now=now,
                        headers_for=self._links.for_event(outcome.business_id, "new_lead"))
            await notifications.notify(conn, outcome.business_id, "conversation_ended", "conversation_ended",
                                       {**values, "outcome": result["outcome"], "sentiment": result["sentiment"],
                                        "topics": result["topics"]}, event_key=str(outcome.id), now=now,
                                       headers_for=self._links.for_event(outcome.business_id, "conversation_ended"))
        return "analysed"

    async def _finish(self, outcome: Outcome, status: AnalysisStatus, *, raw_output: str | None = None,
                      error: str | None = None, prompt_tokens: int = 0, completion_tokens: int = 0,
                      charged: int = 0) -> AnalysisStatus:
        await records.finish(self._pool, outcome, status=status, now=self._clock(), raw_output=raw_output,
                             error=error, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                             charged=charged)
        return status
