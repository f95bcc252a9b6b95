"""email_send: the business's own fixed recipients only, arguments templated in the sandbox (HTML escaped, no header
forged from a line break), queued through the outbox once per tool call, and delivered by the local SMTP server."""

from __future__ import annotations

import asyncpg
import msgspec

from automations.action_runner import ActionServices
from automations.action_tools import ActionTools, load_action_tools
from jobs.queue import Job
from mail import outbox
from mail.sending import SendEmail
from mail.smtp import SmtpMailer, SmtpTarget
from tests.automations.action_fixtures import make_action, services
from tests.automations.conftest import Shop
from tests.fake_smtp import FakeSmtp

__all__ = ["services"]
SCRIPT = "<script>alert(1)</script>"


async def _mailer(pool: asyncpg.Pool, shop: Shop, services: ActionServices) -> ActionTools:
    await make_action(pool, shop, {
        "type": "email_send", "name": "tell_the_owner", "description": "Tell the owner about a callback request",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}, "notes": {"type": "string"}},
                       "required": ["name"]},
        "configuration": {"to": ["owner@bakery.example"], "subject": "Callback for {{ name }}",
                          "body": "Name: {{ name }}\nNotes: {{ notes }}"}})
    return await load_action_tools(pool, shop.tenant.business_id, shop.agent_id, services=services)


async def test_the_email_goes_to_the_owner_escaped_once_per_tool_call(pool: asyncpg.Pool, shop: Shop,
                                                                     services: ActionServices) -> None:
    tools = await _mailer(pool, shop, services)
    arguments = msgspec.json.encode({"name": f"Mallory\r\nBcc: victim@example.com {SCRIPT}",
                                     "notes": SCRIPT}).decode()
    first = await tools.run("tell_the_owner", arguments, key="conv:call_1", conversation_id=None, channel="sms")
    again = await tools.run("tell_the_owner", arguments, key="conv:call_1", conversation_id=None, channel="sms")
    assert first.ok and again.ok, first.content
    (email,) = await outbox.list_emails(pool)
    assert email.recipient == "owner@bakery.example" and "\n" not in email.subject
    async with FakeSmtp() as smtp:
        mailer = SmtpMailer(SmtpTarget.parse(smtp.url), timeout_seconds=5)
        try:
            await SendEmail(pool, mailer, sender="alerts@agent.example")(
                Job(1, outbox.SEND_KIND, {"outboxId": email.id}, None, None, 1, email.created_at))
        finally:
            await mailer.close()
        (message,) = smtp.received
    assert message["Bcc"] is None and message["To"] == "owner@bakery.example"
    assert message["Subject"].startswith("Callback for Mallory Bcc: victim@example.com")
    html = message.get_body(("html",))
    assert html is not None and "<script>" not in html.get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html.get_content()


async def test_a_recipient_no_longer_the_business_s_own_is_not_mailed(pool: asyncpg.Pool, shop: Shop,
                                                                      services: ActionServices) -> None:
    tools = await _mailer(pool, shop, services)
    await pool.execute("UPDATE users SET email = 'gone@elsewhere.example' WHERE id = $1", shop.tenant.user_id)
    outcome = await tools.run("tell_the_owner", '{"name": "Ada"}', key="conv:call_2", conversation_id=None,
                              channel="sms")
    assert not outcome.ok and "no recipient" in outcome.content
    assert await outbox.list_emails(pool) == []
