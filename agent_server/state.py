"""Typed application keys shared across route modules (aiohttp `web.AppKey`)."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import aiohttp
import asyncpg
from aiohttp import web

from agent_server.config import Settings
from phone_numbers.carrier import PhoneCarrier

if TYPE_CHECKING:
    from media.pipeline.hooks import CallHooks, LiveCalls
    from conversations.payment import ReplyPayment
    from media.providers import Providers

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
# The database address the pool was made for (the embedded server's when DATABASE_URL is unset).
DSN = web.AppKey("dsn", str)
# Every open long-lived websocket (media streams, widget chats), closed with 1001 on shutdown.
SOCKETS = web.AppKey("sockets", weakref.WeakSet[web.WebSocketResponse])
# One outbound HTTP session per process, shared by provider clients.
HTTP = web.AppKey("http", aiohttp.ClientSession)


class Lifecycle:
    """Process lifecycle flags that handlers read (readiness turns false while draining)."""

    def __init__(self) -> None:
        self.draining = False


LIFECYCLE = web.AppKey("lifecycle", Lifecycle)

# The process's STT/LLM/TTS providers (media.providers.Providers), built once at start-up.
PROVIDERS: web.AppKey[Providers] = web.AppKey("providers")
# How SMS and chat replies are paid (the wallet), built once per process.
REPLY_PAYMENT: web.AppKey[ReplyPayment] = web.AppKey("reply_payment")
# The phone carrier (Twilio) client, or None when TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN are unset.
CARRIER: web.AppKey[PhoneCarrier | None] = web.AppKey("carrier")
# Observers of live calls (metering, metrics) and the calls this process holds: media.pipeline.hooks.
CALL_HOOKS: web.AppKey[CallHooks] = web.AppKey("call_hooks")
LIVE_CALLS: web.AppKey[LiveCalls] = web.AppKey("live_calls")
