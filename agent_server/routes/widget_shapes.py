"""Declared shapes of the public widget routes: the visitor's message, the widget's config, the reply."""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_server.api.route import Header
from agent_server.api.shapes import Body, Query, Uuid

ORIGIN = Header("Origin", "the embedding page's origin; must be one of the agent's allowed origins (403)",
                required=True)
OPTIONAL_ORIGIN = Header("Origin", "when present, must be one of the agent's allowed origins (403)")


class WidgetMessage(Body):
    """A visitor's message; `conversationId` continues a conversation of this chatbot."""

    text: Annotated[str, msgspec.Meta(max_length=1_000_000,
                                      description="at most the config's maxMessageChars (413 beyond)")]
    conversation_id: Uuid | None = None


class Citation(msgspec.Struct):
    """A page of the business's website the answer drew on."""

    title: str
    url: str


class WidgetReply(msgspec.Struct, rename="camel"):
    conversation_id: Uuid
    message_id: Uuid
    text: str
    answered_by: str
    sources: list[Citation]


class Theme(msgspec.Struct, rename="camel", kw_only=True):
    """The widget's colours and side (an agent may set more keys; the widget reads these)."""

    primary_color: str
    text_color: str
    position: str


class WidgetConfig(msgspec.Struct, rename="camel"):
    chatbot_id: Uuid
    name: str
    greeting: str
    theme: Theme
    allowed_origins: list[str]
    max_message_chars: int


class ChatSocketQuery(Query):
    """A conversation to resume; an unknown one closes the socket with 1008 after an error message."""

    conversation_id: str | None = None
