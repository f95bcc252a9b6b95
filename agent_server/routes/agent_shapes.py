"""Request and response shapes of the agent routes (`/api/agents`, its edits and versions)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_server.agent_config import (
    AgentConfig,
    Channels,
    Effective,
    Faq,
    Language,
    Origin,
    Short,
    Temperature,
    Text,
)
from agent_server.api.shapes import OPTIONAL_E164_PATTERN, Body, Instant, Query, Uuid
from llm_usage.token_settings import FallbackModels, OutputTokens, TokenLimit

Name = Annotated[str, msgspec.Meta(max_length=200)]
Prompt = Annotated[str, msgspec.Meta(max_length=20_000)]
TransferNumber = Annotated[str, msgspec.Meta(max_length=16, pattern=OPTIONAL_E164_PATTERN)]
FaqList = Annotated[list[Faq], msgspec.Meta(max_length=200)]
Origins = Annotated[list[Origin], msgspec.Meta(max_length=50)]


class AgentCreate(Body, forbid_unknown_fields=True):
    """A new agent; only `name` is required. `channels` holds each channel's overrides."""

    name: Name
    business_id: Uuid | None = None
    system_prompt: Prompt = ""
    greeting: Text = ""
    voice: Short = ""
    language: Language = "en-US"
    model: Short = ""
    temperature: Temperature | None = None
    transfer_number: TransferNumber | None = None
    faq: FaqList = []
    allowed_origins: Origins = []
    active: bool = True
    channels: Channels = msgspec.field(default_factory=Channels)
    handoff_tickets: bool = True


class AgentPatch(Body, forbid_unknown_fields=True):
    """Only the fields sent change. `""` or null clears a text (the prompt, the greeting...), `temperature: null`
    and `transferNumber: null` go back to none. A channel sent replaces that channel's overrides (`{}`: inherit
    everything); channels left out (or null) keep theirs."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    system_prompt: Prompt | None | msgspec.UnsetType = msgspec.UNSET
    greeting: Text | None | msgspec.UnsetType = msgspec.UNSET
    voice: Short | None | msgspec.UnsetType = msgspec.UNSET
    language: Language | msgspec.UnsetType = msgspec.UNSET
    model: Short | None | msgspec.UnsetType = msgspec.UNSET
    temperature: Temperature | None | msgspec.UnsetType = msgspec.UNSET
    transfer_number: TransferNumber | None | msgspec.UnsetType = msgspec.UNSET
    faq: FaqList | msgspec.UnsetType = msgspec.UNSET
    allowed_origins: Origins | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    channels: Channels | msgspec.UnsetType = msgspec.UNSET
    # The built-in `open_ticket` handoff tool (issue 25): offered on every channel while on (on calls, when
    # `transfer_call` can't dial); a new version like every other setting.
    handoff_tickets: bool | msgspec.UnsetType = msgspec.UNSET
    # The agent's token settings, checked as `PUT .../token-settings` checks them (not part of its versions).
    daily_token_limit: TokenLimit | None | msgspec.UnsetType = msgspec.UNSET
    monthly_token_limit: TokenLimit | None | msgspec.UnsetType = msgspec.UNSET
    max_output_tokens: OutputTokens | msgspec.UnsetType = msgspec.UNSET
    fallback_models: FallbackModels | msgspec.UnsetType = msgspec.UNSET


class AgentOut(msgspec.Struct, rename="camel", kw_only=True):
    """An agent as the dashboard shows it: its settings, each channel's overrides and what each channel uses."""

    id: Uuid
    business_id: Uuid
    name: str
    system_prompt: str
    greeting: str
    voice: str
    language: str
    model: str
    temperature: float | None
    transfer_number: str | None
    faq: list[Faq]
    allowed_origins: list[str]
    active: bool
    channels: Channels
    version: int
    handoff_tickets: bool
    effective: Effective | msgspec.UnsetType = msgspec.UNSET


class AgentList(msgspec.Struct):
    agents: list[AgentOut]


class BusinessQuery(Query):
    """Which business; may be left out by a user who belongs to exactly one."""

    business_id: Uuid | None = None


class VersionQuery(Query):
    limit: Annotated[int, msgspec.Meta(ge=1, le=200, description="at most this many, newest first")] = 50


class VersionOut(msgspec.Struct, rename="camel", kw_only=True):
    """One immutable version: the whole configuration as it was saved, who saved it and when."""

    version: int
    config: AgentConfig
    author_id: Uuid | None
    created_at: Instant


class VersionList(msgspec.Struct):
    versions: list[VersionOut]
