"""An agent's active actions as the model's tools: the seam the tool runner (every channel) calls.

`load_action_tools` reads the agent's active actions once per turn; `definitions()` gives them in
OpenAI's tools format sorted by name (a fixed order keeps the prompt's prefix the same between
turns); `run` executes a call through `action_runner.execute`, the executor the execute route
uses too, keyed `conversation:tool_call_id` by the caller so a retried call acts once. What comes
back is a `ToolOutcome`: the tool message's text (JSON, ≤ 4,000 characters) and whether it
worked. Nothing here raises for a bad call: an unknown tool, bad JSON or bad arguments are data.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from automations import action_store
from automations.action_model import Action
from automations.action_runner import ActionServices, execute
from storage.executor import Executor


@dataclasses.dataclass(frozen=True, slots=True)
class ToolOutcome:
    """`content` is the tool message for the model; `ok` is False for refused arguments or a failed run."""

    content: str
    ok: bool


_DEFAULT_DESCRIPTIONS = {"calendar_booking": "See the business's free slots on a day, book one, or cancel a booking"}


def definition(action: Action) -> dict[str, Any]:
    """The action's tool in OpenAI's format."""
    described = action.description or _DEFAULT_DESCRIPTIONS.get(action.type, f"Run the {action.name} action")
    return {"type": "function", "function": {
        "name": action.name, "description": described[:1024], "parameters": action.parameters}}


class ActionTools:
    """An agent's active actions as tools, with the services their runs need."""

    def __init__(self, db: Executor, actions: Sequence[Action], services: ActionServices, *,
                 timeout_cap_ms: int | None = None) -> None:
        self._db = db
        self._actions = {a.name: a for a in sorted(actions, key=lambda a: a.name) if a.is_active}
        self._services = services
        self._timeout_cap_ms = timeout_cap_ms

    def definitions(self) -> list[dict[str, Any]]:
        """The tools, by name."""
        return [definition(a) for a in self._actions.values()]

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def __bool__(self) -> bool:
        return bool(self._actions)

    def voice_filler(self, name: str) -> str | None:
        """What to say on a call while this tool runs (None: the server's default filler)."""
        action = self._actions.get(name)
        return None if action is None else action.voice_filler

    async def run(self, name: str, arguments: str, *, key: str, conversation_id: uuid.UUID | None,
                  channel: str) -> ToolOutcome:
        """Run the tool call once per `key` (`conversation:tool_call_id`); the outcome as data."""
        action = self._actions.get(name)
        if action is None:
            return ToolOutcome(msgspec.json.encode({"ok": False, "error": f"no tool named {name[:64]!r}"}).decode(),
                               False)
        result = await execute(self._db, action, arguments, key=key, conversation_id=conversation_id,
                               channel=channel, services=self._services, timeout_cap_ms=self._timeout_cap_ms,
                               finish_later=channel == "voice")
        return ToolOutcome(result.tool_text(), result.success)


async def load_action_tools(db: Executor, business_id: uuid.UUID, agent_id: uuid.UUID, *,
                            services: ActionServices, timeout_cap_ms: int | None = None) -> ActionTools:
    """The agent's active actions as tools (none of another business's, whatever the agent id says).

    Args:
        db: a pool (runs write their rows through it, outside the caller's transaction).
        business_id: the conversation's business.
        agent_id: the conversation's agent.
        services: the guarded HTTP session and clock (the shell's `ACTION_SERVICES`).
        timeout_cap_ms: a lower limit than each action's own (a call's `actions.voice_timeout_ms`).
    """
    actions = [a for a in await action_store.of_agent(db, agent_id, active_only=True) if a.business_id == business_id]
    return ActionTools(db, actions, services, timeout_cap_ms=timeout_cap_ms)
