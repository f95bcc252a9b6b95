"""email_send: an email to the business's own fixed addresses, its subject and body `{{param}}` templates, via the outbox.

Recipients are fixed in the configuration and must be the business's own addresses (its
members', their notification overrides, its support address), checked on save and again when
sent: a model talked into it can't mail a stranger, and a member who left stops getting them.
Templates run in Jinja2's sandbox: the HTML part autoescapes every argument, so a caller's
`<script>` arrives as text; the subject is plain text with line breaks in arguments flattened,
so no argument can add a header. A missing optional argument renders empty.
"""

from __future__ import annotations

import datetime
import functools
import uuid
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from automations.action_config import EmailConfig
from automations.action_model import ActionDefinitionError
from mail import outbox
from mail.message import check_address, check_header
from mail.rendering import Rendered
from storage.executor import Executor


@functools.cache
def _environment(html: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=html, keep_trailing_newline=True)


async def business_addresses(db: Executor, business_id: uuid.UUID) -> set[str]:
    """The business's own addresses, lower-cased: members', their notification overrides, the support address."""
    rows = await db.fetch(
        "SELECT lower(u.email) AS address FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.business_id = $1"
        " UNION SELECT lower(p.override_address) FROM notification_preferences p JOIN memberships m"
        " ON m.user_id = p.user_id AND m.business_id = p.business_id"
        " WHERE p.business_id = $1 AND p.override_address IS NOT NULL"
        " UNION SELECT lower(support_email) FROM businesses WHERE id = $1 AND support_email IS NOT NULL",
        business_id)
    return {r["address"] for r in rows}


async def checked_config(db: Executor, business_id: uuid.UUID, config: EmailConfig) -> EmailConfig:
    """The configuration with addresses normalised, each the business's own, and templates that compile.

    Raises:
        ActionDefinitionError: `configuration.to` (RECIPIENT_NOT_ALLOWED, or not an address),
            `configuration.subject` or `configuration.body` (a template that does not compile).
    """
    own = await business_addresses(db, business_id)
    recipients = []
    for raw in config.to:
        try:
            address = check_address(raw.strip())
        except ValueError as exc:
            raise ActionDefinitionError("configuration.to", str(exc)) from None
        if address.lower() not in own:
            raise ActionDefinitionError("configuration.to", f"{address} is not an address of this business"
                                                            " (its members' or its support address)",
                                        code="RECIPIENT_NOT_ALLOWED")
        recipients.append(address)
    for name, text in (("subject", config.subject), ("body", config.body)):
        try:
            _environment(name == "body").parse(text)
        except jinja2.TemplateSyntaxError as exc:
            raise ActionDefinitionError(f"configuration.{name}", f"template: {exc.message}") from None
    return EmailConfig(to=list(dict.fromkeys(recipients)), subject=config.subject, body=config.body)


def render(config: EmailConfig, arguments: Mapping[str, Any]) -> Rendered:
    """The email for these arguments.

    Raises:
        jinja2.TemplateError: a template failed (the sandbox refused something, a bad filter).
        ValueError: the subject came out with a line break.
    """
    flat = {k: " ".join(v.splitlines()) if isinstance(v, str) else v for k, v in arguments.items()}
    subject = _environment(False).from_string(config.subject).render(flat).strip()[:500]
    text = _environment(False).from_string(config.body).render(arguments)
    html = _environment(True).from_string(config.body).render(arguments)
    return Rendered(subject=check_header("subject", subject), text=text,
                    html=f'<div style="white-space: pre-wrap">{html}</div>')


async def send(db: Executor, business_id: uuid.UUID, config: EmailConfig, arguments: Mapping[str, Any], *,
               execution_id: uuid.UUID, now: datetime.datetime) -> tuple[bool, dict[str, Any]]:
    """Queue the email to each recipient still the business's own; (succeeded, what the model is told)."""
    try:
        content = render(config, arguments)
    except (jinja2.TemplateError, ValueError) as exc:
        return False, {"error": f"the email could not be written: {str(exc)[:200]}"}
    own = await business_addresses(db, business_id)
    queued = 0
    for recipient in config.to:
        if recipient.lower() not in own:
            continue
        outbox_id = await outbox.enqueue(db, content, recipient=recipient, business_id=business_id, now=now,
                                         dedupe_key=f"action:{execution_id}:{recipient.lower()}")
        queued += outbox_id is not None
    if not queued:
        return False, {"error": "no recipient of this action is the business's own address any more"}
    return True, {"sent": True, "recipients": queued}
