"""What an action is: its type, tool name, parameters and per-type configuration, declared once as msgspec Structs.

Four types: `webhook_call` (a signed POST whose answer the model reads; `zapier_trigger` is
the same thing under the dashboard's older name, saved as `webhook_call`), `email_send` (an
email to the business's own fixed addresses, its texts templates of the arguments),
`calendar_booking` (availability, booking and cancelling on a calendar) and `custom_tool`
(the business's own tool: its declared parameters, POSTed signed to its URL, its answer
awaited). An action's name is the tool's name the model calls, so it follows OpenAI's rule
for function names and may not read like another tool's (`form_…`, `open_ticket`).
"""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Annotated, Any, Literal

import msgspec

MAX_ACTIONS_PER_AGENT = 20
DEFAULT_TIMEOUT_MS = 10_000
MAX_TIMEOUT_MS = 30_000
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024
MAX_RESPONSE_BYTES = 1024 * 1024

ActionType = Literal["webhook_call", "email_send", "calendar_booking", "custom_tool"]
ACTION_TYPES: tuple[str, ...] = ("webhook_call", "email_send", "calendar_booking", "custom_tool")
# The dashboard's older names, saved as the type they mean.
TYPE_ALIASES = {"zapier_trigger": "webhook_call"}
# Tools other parts of the server offer: an action may not take their names.
RESERVED_NAMES = frozenset({"open_ticket"})
RESERVED_PREFIXES = ("form_",)

ToolName = Annotated[str, msgspec.Meta(pattern=r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$",
                                       description="the tool's name the model calls (letters, digits, _ and -)")]
Description = Annotated[str, msgspec.Meta(max_length=1024)]
TimeoutMs = Annotated[int, msgspec.Meta(ge=100, le=MAX_TIMEOUT_MS, description="the run's limit, 30,000 at most")]
ResponseBytes = Annotated[int, msgspec.Meta(ge=1, le=MAX_RESPONSE_BYTES,
                                            description="the answer is read this far, then cut")]
Filler = Annotated[str, msgspec.Meta(max_length=200, description="said on a call while the action runs")]
TypeName = Annotated[str, msgspec.Meta(description="webhook_call (alias zapier_trigger), email_send,"
                                                   " calendar_booking or custom_tool")]


class ActionDefinitionError(ValueError):
    """An action's definition breaks a rule; `field` names the part to blame (422)."""

    def __init__(self, field: str, message: str, code: str = "VALIDATION_ERROR") -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.code = field, message, code


class ActionSpec(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """Everything a business sets on an action (the create body; an edit changes some of it)."""

    type: TypeName
    name: ToolName
    description: Description = ""
    parameters: dict[str, Any] = {}
    configuration: dict[str, Any] = {}
    timeout_ms: TimeoutMs = DEFAULT_TIMEOUT_MS
    max_response_bytes: ResponseBytes = DEFAULT_MAX_RESPONSE_BYTES
    voice_filler: Filler | None = None
    is_active: bool = True


def checked_type(raw: str) -> ActionType:
    """The type an action is saved as (aliases resolved).

    Raises:
        ActionDefinitionError: naming `type`.
    """
    name = TYPE_ALIASES.get(raw, raw)
    if name not in ACTION_TYPES:
        raise ActionDefinitionError("type", f"unknown type {raw!r} (known: {', '.join(ACTION_TYPES)},"
                                            " zapier_trigger)")
    return name  # type: ignore[return-value]


def check_name(name: str) -> None:
    """Refuse a name another tool of the agent has (forms' `form_…`, the ticket handoff).

    Raises:
        ActionDefinitionError: naming `name`.
    """
    lowered = name.lower()
    if lowered in RESERVED_NAMES or lowered.startswith(RESERVED_PREFIXES):
        raise ActionDefinitionError("name", f"{name!r} reads like a tool the server offers itself")


_BLANK = re.compile(r"\s+")


def clean_filler(text: str | None) -> str | None:
    """A filler as it is spoken: one line, trimmed; None when blank."""
    if text is None:
        return None
    return _BLANK.sub(" ", text).strip() or None


class Action(msgspec.Struct, kw_only=True):
    """A stored action (live unless deleted); `configuration` holds the write-only headers too."""

    id: uuid.UUID
    business_id: uuid.UUID
    agent_id: uuid.UUID
    type: ActionType
    name: str
    description: str
    parameters: dict[str, Any]
    configuration: dict[str, Any]
    timeout_ms: int
    max_response_bytes: int
    voice_filler: str | None
    signing_secret: str
    is_active: bool
    created_at: datetime.datetime
    updated_at: datetime.datetime

    def spec(self) -> ActionSpec:
        """What the business set, as a spec (the base an edit is applied to)."""
        return ActionSpec(**{name: getattr(self, name) for name in ActionSpec.__struct_fields__})
