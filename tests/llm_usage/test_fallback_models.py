"""Fallback models: a reply whose model fails before any text reached the person is asked of the next one.

Each attempt is its own `llm_requests` row; the reply names the model that wrote it. A request the
provider refuses as wrong (400) or a stream broken after text has no second attempt.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncGenerator, Sequence
from types import MappingProxyType
from typing import Any

import asyncpg
import pytest

from agent_server.config import ConfigError, Settings
from agent_server.services import named_llms
from conversations.conversation import ModelDefaults, answer
from llm_usage import token_settings
from media.config import LlmConfig, LlmProviderConfig
from llm_usage.requests import Attempt
from media.llm.base import LlmEvent, LlmProvider, Message, TextDelta, Tool
from media.llm.faq import FaqEntry
from media.llm.local import LocalLlm
from media.llm.routed import RoutedLlm
from tests.conftest import MakeClient
from tests.fake_openai import FakeOpenAi, ScriptedReply
from tests.messaging.conftest import OUR_NUMBER, Shop, messaging_settings, shop  # noqa: F401  (fixtures)
from tests.messaging.test_twilio_sms import SENDER, text

PRIMARY, SECOND, THIRD = "gpt-4o-mini", "gpt-4o", "gpt-4"


def per_model(fake: FakeOpenAi, replies: dict[str, ScriptedReply]) -> None:
    """Each model answers as scripted, every time it is asked."""
    fake.state.responder = lambda body: replies[body["model"]]


async def rows(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await pool.fetch(
        "SELECT attempt, requested_model, served_model, status, http_status, output_tokens > 0"
        " FROM llm_requests ORDER BY attempt")]


async def ask(client: Any, shop: Shop,  # noqa: F811
              text: str = "Can I book a cleaning?") -> tuple[int, dict[str, Any]]:
    resp = await client.post("/api/chatbot", headers=shop.headers, json={"chatbotId": str(shop.agent_id),
                                                                        "message": text})
    return resp.status, await resp.json()


async def with_fallbacks(pool: asyncpg.Pool, shop: Shop, *models: str) -> None:  # noqa: F811
    await token_settings.update(pool, shop.agent_id, {"fallback_models": list(models)})


async def test_a_500_is_answered_by_the_second_model_in_two_rows(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    await with_fallbacks(pool, shop, SECOND, THIRD)
    per_model(fake_openai, {PRIMARY: ScriptedReply(status=500), SECOND: ScriptedReply(text="Tuesday at ten works.")})
    client = await make_client(messaging_settings)
    status, body = await ask(client, shop)
    assert status == 200, body
    assert (body["reply"], body["model"], body["answeredBy"]) == ("Tuesday at ten works.", SECOND, "llm")
    assert await rows(pool) == [(1, PRIMARY, PRIMARY, "error", 500, False), (2, PRIMARY, SECOND, "ok", 200, True)]
    assert [r["model"] for r in fake_openai.state.chat_requests][-1] == SECOND
    assert THIRD not in {r["model"] for r in fake_openai.state.chat_requests}
    assert await pool.fetchval("SELECT count(*) FROM answer_cache") == 0  # a fallback's answer is not kept


async def test_sms_and_whatsapp_replies_fall_back_too(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    await with_fallbacks(pool, shop, SECOND)
    per_model(fake_openai, {PRIMARY: ScriptedReply(status=429), SECOND: ScriptedReply(text="Yes, we have slots.")})
    client = await make_client(messaging_settings)
    assert await text(client, "Any slots on Friday?") == "Yes, we have slots."
    assert await text(client, "Any slots Monday?", sender="whatsapp:" + SENDER,
                      to="whatsapp:" + OUR_NUMBER) == "Yes, we have slots."
    served = await pool.fetch("SELECT channel, attempt, served_model, http_status FROM llm_requests ORDER BY id")
    assert [tuple(r) for r in served] == [("sms", 1, PRIMARY, 429), ("sms", 2, SECOND, 200),
                                          ("whatsapp", 1, PRIMARY, 429), ("whatsapp", 2, SECOND, 200)]


async def test_no_first_token_in_time_moves_to_the_next_model(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    await with_fallbacks(pool, shop, SECOND)
    # The first model opens its stream, then sends no token.
    per_model(fake_openai, {PRIMARY: ScriptedReply(text="Too late.", stall_after_deltas=0),
                            SECOND: ScriptedReply(text="We open at nine.")})
    client = await make_client(dataclasses.replace(messaging_settings,
                                                   llm=LlmConfig(first_token_timeout_seconds=0.5)))
    started = time.monotonic()
    status, body = await ask(client, shop)
    elapsed = time.monotonic() - started
    assert status == 200, body
    assert (body["reply"], body["model"]) == ("We open at nine.", SECOND)
    assert await rows(pool) == [(1, PRIMARY, PRIMARY, "timeout", None, False), (2, PRIMARY, SECOND, "ok", 200, True)]
    assert 0.5 <= elapsed < 4.0
    assert fake_openai.state.streams_aborted == 1  # the stalled stream was closed, not left generating


async def test_a_400_is_not_asked_of_another_model(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    await with_fallbacks(pool, shop, SECOND)
    per_model(fake_openai, {PRIMARY: ScriptedReply(status=400), SECOND: ScriptedReply(text="Never sent.")})
    client = await make_client(messaging_settings)
    status, body = await ask(client, shop)
    assert (status, body["error"]["code"]) == (503, "LLM_UNAVAILABLE")
    assert await rows(pool) == [(1, PRIMARY, PRIMARY, "error", 400, False)]
    assert {r["model"] for r in fake_openai.state.chat_requests} == {PRIMARY}
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'chat_usage'") == 0


async def test_a_stream_cut_after_text_is_not_retried(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    await with_fallbacks(pool, shop, SECOND)
    per_model(fake_openai, {PRIMARY: ScriptedReply(text="We open at nine on weekdays.", cut_after_deltas=2),
                            SECOND: ScriptedReply(text="Never sent.")})
    client = await make_client(messaging_settings)
    status, _ = await ask(client, shop)
    assert status == 503
    [(attempt, _, served, outcome, _, _)] = await rows(pool)
    assert (attempt, served, outcome) == (1, PRIMARY, "error")
    assert [r["model"] for r in fake_openai.state.chat_requests] == [PRIMARY]


async def test_without_fallback_models_a_500_fails_the_reply_as_before(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    per_model(fake_openai, {PRIMARY: ScriptedReply(status=500)})
    client = await make_client(messaging_settings)
    assert (await ask(client, shop))[0] == 503
    assert await rows(pool) == [(1, PRIMARY, PRIMARY, "error", 500, False)]


async def test_a_name_model_entry_is_asked_of_that_configured_server_with_its_own_key(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    backup = FakeOpenAi(api_key="backup-key")
    await backup.start()
    try:
        monkeypatch.setenv("BACKUP_LLM_KEY", "backup-key")
        servers = MappingProxyType({"backup": LlmProviderConfig(base_url=backup.base_url,
                                                                api_key_env="BACKUP_LLM_KEY")})
        await with_fallbacks(pool, shop, "backup:llama-3.1-8b")
        per_model(fake_openai, {PRIMARY: ScriptedReply(status=503)})
        backup.state.script("The backup server says hello.")
        client = await make_client(dataclasses.replace(messaging_settings, llm=LlmConfig(providers=servers)))
        status, body = await ask(client, shop)
        assert status == 200, body
        assert (body["reply"], body["model"]) == ("The backup server says hello.", "backup:llama-3.1-8b")
        [sent] = backup.state.chat_requests
        assert sent["model"] == "llama-3.1-8b" and backup.state.authorizations == ["Bearer backup-key"]
        assert await rows(pool) == [(1, PRIMARY, PRIMARY, "error", 503, False),
                                    (2, PRIMARY, "backup:llama-3.1-8b", "ok", 200, True)]
    finally:
        await backup.close()


def test_only_a_configured_name_routes_a_model_elsewhere(messaging_settings: Settings) -> None:  # noqa: F811
    default, other = LocalLlm(), LocalLlm()
    routed = RoutedLlm(default, {"backup": other})
    assert routed.route("backup:llama-3") == (other, "llama-3")
    assert routed.route("ft:gpt-4o-mini:acme::abc") == (default, "ft:gpt-4o-mini:acme::abc")
    assert routed.route("gpt-4o") == (default, "gpt-4o")
    servers = MappingProxyType({"backup": LlmProviderConfig(base_url="http://127.0.0.1:9/v1", api_key_env="NO_SUCH")})
    with pytest.raises(ConfigError, match="NO_SUCH"):
        named_llms(dataclasses.replace(messaging_settings, llm=LlmConfig(providers=servers)), {})


class SlowLlm(LlmProvider):
    """Answers every model, each after `delay` seconds before its first token."""

    name = "slow"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.models: list[str] = []

    async def stream_chat(self, messages: Sequence[Message], *, model: str, temperature: float = 0.3,
                          tools: Sequence[Tool] | None = None, faq: Sequence[FaqEntry] = (),
                          max_tokens: int | None = None) -> AsyncGenerator[LlmEvent, None]:
        self.models.append(model)
        await asyncio.sleep(self.delay)
        yield TextDelta(f"{model} answered.")


@dataclasses.dataclass(frozen=True)
class Profile:
    business_id: uuid.UUID = uuid.UUID(int=1)
    name: str = "Corner Dental"
    system_prompt: str = "You are the receptionist."
    model: str = PRIMARY
    temperature: float | None = None
    faq: tuple[FaqEntry, ...] = ()


async def test_the_last_model_left_waits_for_its_first_token() -> None:
    defaults = ModelDefaults("gpt-test", 0.4, first_token_timeout=0.05)
    alone = SlowLlm(0.2)
    reply = await answer(alone, Profile(), [], "Hello?", channel="widget", defaults=defaults)
    assert (reply.text, alone.models) == (f"{PRIMARY} answered.", [PRIMARY])
    chained, attempts = SlowLlm(0.2), list[Attempt]()
    reply = await answer(chained, Profile(), [], "Hello?", channel="widget", defaults=defaults,
                         fallbacks=lambda: [SECOND], attempts=attempts)
    assert (reply.text, chained.models) == (f"{SECOND} answered.", [PRIMARY, SECOND])
    assert [(a.served_model, a.status) for a in attempts] == [(PRIMARY, "timeout"), (SECOND, "ok")]
