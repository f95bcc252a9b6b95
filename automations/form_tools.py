"""Forms as the model's tools on any channel: `form_<slug>` definitions, and a tool call turned into a submission.

What the model gets back is data, never an exception: a JSON object with `errors` (one per
field, so it can ask the person again for just those) or with the submission's id and the
form's success message. A form that requires its terms accepted takes a `termsAccepted`
argument, which must be true: the model is told to ask, and only a person's yes counts.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from automations.form_model import Form
from automations.form_schema import compile_form
from automations.form_submissions import DEFAULT_SUCCESS_MESSAGE, Channel, save
from storage.executor import Executor

_TERMS = "termsAccepted"


@dataclasses.dataclass(frozen=True)
class ToolOutcome:
    """`content` is the tool message's text for the model; `submission_id` when a submission was saved."""

    content: str
    submission_id: uuid.UUID | None = None


def tool_of(form: Form, *, region: str = "US") -> dict[str, Any]:
    """The form's tool in OpenAI's tools format (a `termsAccepted` argument when the form requires it)."""
    tool = copy.deepcopy(compile_form(form.slug, form.description or form.title, form.fields, region=region).tool)
    if form.require_terms_acceptance:
        parameters = tool["function"]["parameters"]
        parameters["properties"][_TERMS] = {
            "type": "boolean", "description": f"true only after the person accepted these terms: "
                                              f"{form.terms_and_conditions[:500]}"}
        parameters["required"] = [*parameters["required"], _TERMS]
    return tool


def tools_for(forms: Sequence[Form], *, region: str = "US") -> list[dict[str, Any]]:
    """The active forms' tools, by name: a fixed order, so the prompt's prefix stays the same between turns."""
    return [tool_of(f, region=region) for f in sorted(forms, key=lambda f: f.tool_name) if f.is_active]


def form_named(forms: Sequence[Form], tool_name: str) -> Form | None:
    return next((f for f in forms if f.is_active and f.tool_name == tool_name), None)


def _errors(*errors: tuple[str, str, str]) -> ToolOutcome:
    return ToolOutcome(msgspec.json.encode(
        {"submitted": False, "errors": [{"field": f, "code": c, "message": m} for f, c, m in errors]}).decode())


async def submit_tool_call(db: Executor, form: Form, arguments: str, *, channel: Channel,
                           conversation_id: uuid.UUID | None, region: str, now: datetime.datetime,
                           key: str | None = None) -> ToolOutcome:
    """Check the model's arguments and save them as a submission, or say per field what is wrong.

    `key` is the tool call's `conversation:tool_call_id`: the same call twice saves one submission."""
    try:
        data: Any = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        return _errors(("", "invalid_json", "the arguments are not JSON"))
    if not isinstance(data, dict):
        return _errors(("", "invalid_json", "the arguments must be a JSON object"))
    accepted = data.pop(_TERMS, False) is True
    if form.require_terms_acceptance and not accepted:
        return _errors((_TERMS, "required", "ask the person to accept the terms first"))
    clean, problems = compile_form(form.slug, form.description, form.fields, region=region).check(data)
    if problems:
        return _errors(*((e.field, e.code, e.message) for e in problems))
    saved = await save(db, form, clean, channel=channel, conversation_id=conversation_id, visitor_id=None,
                       terms_accepted=accepted, now=now, tool_key=key)
    return ToolOutcome(msgspec.json.encode({
        "submitted": True, "submissionId": str(saved.submission.id),
        "message": form.success_message or DEFAULT_SUCCESS_MESSAGE}).decode(), saved.submission.id)
