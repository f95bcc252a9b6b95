"""Shapes of the dashboard's older channel calls (`/api/voice/*`, `/api/whatsapp/*`), in the names it sends.

Those calls predate per-channel settings and speak snake_case (`system_prompt`, `first_message`,
`voice_id`, `model_id`); they stay as the dashboard sends them, so these Structs are not renamed
to camelCase. An unknown field is a 422 naming it, as on `PATCH /api/agents/{agentId}`.
"""

from __future__ import annotations

from typing import Final

import msgspec

from agent_server.agent_config import Language, Short, Temperature, Text
from agent_server.api.shapes import Uuid
from agent_server.errors import ValidationError
from agent_server.routes.agent_shapes import Name, Prompt

_BLANK_INHERITS: Final = frozenset({"model", "model_id", "voice_id"})


class _AliasBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Only the fields sent change; null on a channel field drops the channel's own value (it inherits the agent's)."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    system_prompt: Prompt | None | msgspec.UnsetType = msgspec.UNSET
    first_message: Text | None | msgspec.UnsetType = msgspec.UNSET
    model: Short | None | msgspec.UnsetType = msgspec.UNSET
    model_id: Short | None | msgspec.UnsetType = msgspec.UNSET
    temperature: Temperature | None | msgspec.UnsetType = msgspec.UNSET
    language: Language | None | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        """Texts are stripped; a blank model or voice means "inherit" (as null does), a blank name is a 422."""
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if not isinstance(value, str):
                continue
            value = value.strip()
            if not value and name == "name":
                raise ValidationError("name", "must not be empty")
            setattr(self, name, None if not value and name in _BLANK_INHERITS else value)


class VoiceAliasPatch(_AliasBody, kw_only=True, forbid_unknown_fields=True):
    """`name` and `system_prompt` edit the agent; the rest its voice channel (`first_message` is its greeting)."""

    voice_id: Short | None | msgspec.UnsetType = msgspec.UNSET


class WhatsAppAliasPatch(_AliasBody, kw_only=True, forbid_unknown_fields=True):
    """`name` and `system_prompt` edit the agent; the rest its WhatsApp channel (`first_message` is its greeting)."""


class VoiceAgent(msgspec.Struct, kw_only=True):
    """An agent as the voice calls show it: what its voice channel uses (`model` and `model_id` are the same)."""

    id: Uuid
    business_id: Uuid
    name: str
    system_prompt: str
    first_message: str
    voice_id: str
    model: str
    model_id: str
    temperature: float | None
    language: str
    version: int


class WhatsAppAgent(msgspec.Struct, kw_only=True):
    """An agent as the WhatsApp calls show it: what its WhatsApp channel uses."""

    id: Uuid
    business_id: Uuid
    name: str
    system_prompt: str
    first_message: str
    model: str
    model_id: str
    temperature: float | None
    language: str
    enabled: bool
    version: int


class VoiceAgentList(msgspec.Struct):
    agents: list[VoiceAgent]


class WhatsAppAgentList(msgspec.Struct):
    agents: list[WhatsAppAgent]
