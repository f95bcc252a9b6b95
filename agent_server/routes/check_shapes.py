"""Shapes of the provider check (`POST /api/agents/{agentId}/validate` and the voice/WhatsApp aliases)."""

from __future__ import annotations

from typing import Literal

import msgspec

from agent_server.api.shapes import Uuid

ErrorCode = Literal["auth_failed", "model_not_found", "voice_not_found", "timeout", "unreachable",
                    "webhook_mismatch", "not_configured"]


class CheckErrorOut(msgspec.Struct, kw_only=True):
    code: ErrorCode
    message: str


class CheckOut(msgspec.Struct, rename="camel", kw_only=True):
    """One round trip: `kind` is llm, tts, stt, account or webhooks; `target` the model, voice, language or number."""

    provider: str
    kind: str
    target: str
    ok: bool
    latency_ms: int
    error: CheckErrorOut | None = None
    local: bool = False


class CheckReport(msgspec.Struct, kw_only=True):
    """`ok` when every result is."""

    ok: bool
    results: list[CheckOut]


class ChannelCheck(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The dashboard's voice/WhatsApp validate call names the agent as the other alias calls do."""

    agent_id: Uuid
