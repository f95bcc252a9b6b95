"""Declared shapes of the public widget routes: the visitor's message, the widget's config, the reply."""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_server.api.route import Header
from agent_server.api.shapes import Body, Query, Uuid
from agent_server.routes.form_shapes import PublicForm

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
    """The widget's colours and corner (an agent's older theme may carry more keys; the widget reads these)."""

    primary_color: str
    secondary_color: str
    text_color: str
    position: Annotated[str, msgspec.Meta(description="bottom-right, bottom-left, top-right, top-left or center")]


class WidgetConfig(msgspec.Struct, rename="camel"):
    """The widget channel's effective settings (its overrides over the agent's own), for the embedded script."""

    chatbot_id: Uuid
    name: str
    greeting: str
    theme: Theme
    allowed_origins: list[str]
    max_message_chars: int
    placeholder: str
    formatting: Annotated[str, msgspec.Meta(description="plain or markdown: how the widget shows replies")]
    faq_buttons: Annotated[list[str], msgspec.Meta(description="questions offered as one-tap buttons")]
    voice_enabled: bool
    messenger_enabled: bool
    forms: Annotated[list[PublicForm], msgspec.Meta(description="the active forms; a keyword opens one")]


class ChatSocketQuery(Query):
    """A conversation to resume; an unknown one closes the socket with 1008 after an error message."""

    conversation_id: str | None = None
