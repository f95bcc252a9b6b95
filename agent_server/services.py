"""Outside-service clients built once per process: media providers and the phone carrier.

Provider clients hold connection pools and loaded models; building them per call would put
that cost on the hot path, so they live for the app's lifetime (aiohttp `cleanup_ctx`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from agent_server.config import ConfigError, Settings
from agent_server.reply_billing import WalletReplyPayment
from agent_server.state import CARRIER, HTTP, POOL, PROVIDERS, REPLY_PAYMENT, SETTINGS
from phone_numbers.carrier import PhoneCarrier

if TYPE_CHECKING:
    from media.providers import Providers


def providers_for(settings: Settings, app: web.Application) -> Providers:
    from media.providers import build_providers

    return build_providers(
        session=app[HTTP],
        deepgram_api_key=settings.deepgram.api_key,
        deepgram_base_url=settings.deepgram.base_url,
        openai_api_key=settings.openai.api_key,
        openai_base_url=settings.openai.base_url,
        deepgram_tts_voice=settings.deepgram.tts_voice,
        named_llms=named_llms(settings, os.environ),
    )


def named_llms(settings: Settings, env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """`[llm.providers.NAME]` as (base URL, API key), the key read from its `api_key_env` variable.

    An empty `api_key_env` is a server that wants no key (a local one); a named variable that is
    unset stops the start, rather than failing every fallback to that server later.
    """
    servers: dict[str, tuple[str, str]] = {}
    for name, server in settings.llm.providers.items():
        key = env.get(server.api_key_env, "") if server.api_key_env else ""
        if server.api_key_env and not key:
            raise ConfigError(f"llm.providers.{name}: environment variable {server.api_key_env} is not set")
        servers[name] = (server.base_url, key)
    return servers


def carrier_for(settings: Settings, app: web.Application) -> PhoneCarrier | None:
    """The Twilio client when the account is configured, else None (routes answer 503)."""
    if not (settings.twilio.account_sid and settings.twilio.auth_token):
        return None
    from phone_numbers.twilio_carrier import TwilioCarrier

    return TwilioCarrier(settings.twilio.account_sid, settings.twilio.auth_token, settings.twilio.api_base)


async def services(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[PROVIDERS] = providers_for(settings, app)
    app[CARRIER] = carrier_for(settings, app)
    app[REPLY_PAYMENT] = WalletReplyPayment(app[POOL], settings.billing, costs=settings.provider_costs,
                                            model=settings.openai.model)
    try:
        yield
    finally:
        carrier = app[CARRIER]
        if carrier is not None:
            await carrier.aclose()
        await app[PROVIDERS].aclose()
