"""Forms offered in the widget: the active forms in its config, and the form frame a keyword triggers on the socket.

Matching is `automations.form_triggers` (whole words, no model call). The frame follows the
reply's `done`, so the answer is never cut off: `{"type": "form", "form": {...}, "prefill": {}}`.
A visitor sees a form's public face only (no notification address, webhook or owner settings).
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from agent_server.routes.form_shapes import PublicForm
from automations import form_store
from automations.form_model import Form
from automations.form_triggers import triggered
from storage.executor import Executor


def public_form(form: Form) -> PublicForm:
    return PublicForm(id=str(form.id), name=form.name, title=form.title, description=form.description,
                      fields=form.fields, trigger_keywords=form.trigger_keywords,
                      success_message=form.success_message, terms_and_conditions=form.terms_and_conditions,
                      require_terms_acceptance=form.require_terms_acceptance)


async def widget_forms(db: Executor, agent_id: uuid.UUID) -> list[dict[str, Any]]:
    """The agent's active forms as the widget config lists them."""
    forms = await form_store.of_agent(db, agent_id, active_only=True)
    return [msgspec.to_builtins(public_form(f)) for f in forms]


async def form_frame(db: Executor, agent_id: uuid.UUID, text: str) -> str | None:
    """The socket frame offering the form the visitor's text asks for by keyword, or None."""
    form = triggered(await form_store.of_agent(db, agent_id, active_only=True), text)
    if form is None:
        return None
    return msgspec.json.encode({"type": "form", "form": public_form(form), "prefill": {}}).decode()
