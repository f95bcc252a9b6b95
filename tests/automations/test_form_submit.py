"""A visitor submits a form: one transaction writes the submission, the email and the webhooks; bad input changes nothing."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from typing import Any

import asyncpg
import orjson

from conversations import records
from jobs.queue import Job
from mail import outbox
from mail.sending import SendEmail
from mail.smtp import SmtpMailer, SmtpTarget
from tests.automations.conftest import ORIGIN, Client, Shop, cake_form
from tests.conftest import MakeBusiness
from tests.fake_smtp import FakeSmtp

SCRIPT = "<script>alert(1)</script>"


async def _form(client: Client, shop: Shop, **overrides: Any) -> str:
    resp = await client.post(f"/api/agents/{shop.agent_id}/forms", json=cake_form(**overrides), headers=shop.headers)
    assert resp.status == 201, await resp.text()
    form_id: str = (await resp.json())["id"]
    return form_id


def _answers(**overrides: Any) -> dict[str, Any]:
    return {"name": "Ann", "email": "ann@example.com", "phone": "(415) 555-2671", "size": "large", **overrides}


async def _submit(client: Client, form_id: str, *, headers: dict[str, str] | None = None,
                  **extra: Any) -> tuple[int, dict[str, Any]]:
    body = {"formId": form_id, "submittedData": _answers(), **extra}
    resp = await client.post("/api/forms/submit", json=body, headers=ORIGIN if headers is None else headers)
    return resp.status, await resp.json()


async def _counts(pool: asyncpg.Pool) -> tuple[int, int, int]:
    return (await pool.fetchval("SELECT count(*) FROM form_submissions"),
            await pool.fetchval("SELECT count(*) FROM email_outbox"),
            await pool.fetchval("SELECT count(*) FROM webhook_messages"))


async def test_a_submission_writes_its_row_email_and_webhook_together(
        client: Client, shop: Shop, pool: asyncpg.Pool) -> None:
    form_id = await _form(client, shop, webhookUrl="https://hooks.example.test/cakes")
    status, body = await _submit(client, form_id, visitorId="v-1")
    assert status == 201, body
    assert body == {"success": True, "submissionId": body["submissionId"],
                    "message": "Thanks, we'll call you back", "webhooksQueued": 1}
    row = await pool.fetchrow("SELECT * FROM form_submissions")
    assert (str(row["id"]), row["channel"], row["visitor_id"], row["agent_id"]) == (
        body["submissionId"], "widget", "v-1", shop.agent_id)
    assert row["data"] == {"name": "Ann", "email": "ann@example.com", "phone": "+14155552671", "size": "large"}
    assert row["form_snapshot"]["name"] == "Cake order" and len(row["form_snapshot"]["fields"]) == 4
    (email,) = await outbox.list_emails(pool)
    assert (email.template, email.recipient, email.subject) == (
        "form_submission", "orders@bakery.example", "New cake order")
    message = orjson.loads(await pool.fetchval("SELECT body FROM webhook_messages"))
    assert message["type"] == "form.submitted"
    assert message["data"] == {"form_id": form_id, "form_name": "Cake order", "submission_id": body["submissionId"],
                               "submitted_data": row["data"], "conversation_id": None,
                               "agent_id": str(shop.agent_id), "submitted_at": message["data"]["submitted_at"]}


async def test_invalid_answers_are_named_per_field_and_nothing_is_written(
        client: Client, shop: Shop, pool: asyncpg.Pool) -> None:
    form_id = await _form(client, shop)
    resp = await client.post("/api/forms/submit", headers=ORIGIN, json={
        "formId": form_id, "submittedData": {"email": "nope", "size": "huge", "colour": "red"}})
    error = (await resp.json())["error"]
    assert (resp.status, error["code"]) == (422, "INVALID_FIELDS")
    assert [(f["field"], f["code"]) for f in error["fields"]] == [
        ("name", "required"), ("email", "invalid_email"), ("size", "not_an_option"), ("colour", "unknown_field")]
    assert await _counts(pool) == (0, 0, 0)


async def test_inactive_or_unknown_forms_are_404_and_foreign_origins_403(
        client: Client, shop: Shop, pool: asyncpg.Pool) -> None:
    form_id = await _form(client, shop)
    assert (await _submit(client, str(uuid.uuid4())))[0] == 404
    assert (await _submit(client, form_id, headers={"Origin": "https://evil.example"}))[0] == 403
    assert (await _submit(client, form_id, headers={}))[0] == 403
    await client.patch(f"/api/forms/{form_id}", json={"isActive": False}, headers=shop.headers)
    status, body = await _submit(client, form_id)
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"
    assert await _counts(pool) == (0, 0, 0)


async def test_terms_must_be_accepted_when_the_form_requires_it(client: Client, shop: Shop) -> None:
    form_id = await _form(client, shop, termsAndConditions="We keep your details.", requireTermsAcceptance=True)
    status, body = await _submit(client, form_id)
    assert (status, body["error"]["code"], body["error"]["field"]) == (422, "TERMS_NOT_ACCEPTED", "termsAccepted")
    assert (await _submit(client, form_id, termsAccepted=True))[0] == 201


async def test_a_conversation_of_another_agent_is_refused_and_its_own_is_kept(
        client: Client, shop: Shop, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    form_id = await _form(client, shop)
    other = await make_business("Rival")
    from agent_server import agents
    rival_agent = await agents.create_agent(pool, other.business_id, "Rival")
    theirs, ours = uuid.uuid4(), uuid.uuid4()
    await records.create_conversation(pool, theirs, agent_id=rival_agent, business_id=other.business_id, origin="x")
    await records.create_conversation(pool, ours, agent_id=shop.agent_id, business_id=shop.tenant.business_id,
                                      origin="x")
    status, body = await _submit(client, form_id, conversationId=str(theirs))
    assert (status, body["error"]["field"]) == (422, "conversationId")
    assert (await _submit(client, form_id, conversationId=str(ours)))[0] == 201
    assert await pool.fetchval("SELECT conversation_id FROM form_submissions") == ours


async def test_the_dashboards_snake_case_body_is_read_the_same(client: Client, shop: Shop) -> None:
    form_id = await _form(client, shop)
    resp = await client.post("/api/forms/submit", headers=ORIGIN, json={
        "form_id": form_id, "submitted_data": _answers(), "terms_accepted": False})
    assert resp.status == 201, await resp.text()


async def test_a_body_over_64_kb_is_413_and_the_11th_a_minute_from_one_ip_is_429(
        client: Client, shop: Shop, pool: asyncpg.Pool) -> None:
    form_id = await _form(client, shop)
    resp = await client.post("/api/forms/submit", headers={**ORIGIN, "Content-Type": "application/json"},
                             data=orjson.dumps({"formId": form_id, "submittedData": {"name": "x" * 70_000}}))
    assert resp.status == 413
    statuses = [(await _submit(client, form_id))[0] for _ in range(11)]
    assert statuses == [201] * 10 + [429]
    assert await pool.fetchval("SELECT count(*) FROM form_submissions") == 10


async def test_the_preflight_allows_the_asking_origin(client: Client) -> None:
    resp = await client.options("/api/forms/submit", headers={**ORIGIN, "Access-Control-Request-Method": "POST"})
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN["Origin"]


async def _deliver(pool: asyncpg.Pool, email: outbox.OutboxEmail) -> EmailMessage:
    async with FakeSmtp() as smtp:
        mailer = SmtpMailer(SmtpTarget.parse(smtp.url), timeout_seconds=5)
        try:
            await SendEmail(pool, mailer, sender="alerts@agent.example")(
                Job(1, outbox.SEND_KIND, {"outboxId": email.id}, None, None, 1, email.created_at))
        finally:
            await mailer.close()
        (message,) = smtp.received
    return message


async def test_the_email_arrives_with_script_escaped_and_line_breaks_unable_to_forge_lines(
        client: Client, shop: Shop, pool: asyncpg.Pool) -> None:
    form_id = await _form(client, shop, fields=[
        {"id": "name", "label": "Name", "type": "text", "required": True},
        {"id": "notes", "label": "Notes", "type": "textarea"}])
    resp = await client.post("/api/forms/submit", headers=ORIGIN, json={"formId": form_id, "submittedData": {
        "name": SCRIPT, "notes": "Hello\r\nBcc: victim@example.com\r\nName: Mallory"}})
    assert resp.status == 201, await resp.text()
    (email,) = await outbox.list_emails(pool)
    message = await _deliver(pool, email)
    assert message["Bcc"] is None and message["To"] == "orders@bakery.example"
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None and text is not None
    assert "<script>" not in html.get_content() and "&lt;script&gt;alert(1)&lt;/script&gt;" in html.get_content()
    plain = text.get_content()
    assert f"Name: {SCRIPT}" in plain
    assert "\nBcc:" not in plain and "\nName: Mallory" not in plain
    assert "Notes: Hello\n    Bcc: victim@example.com\n    Name: Mallory" in plain


async def test_submissions_are_paged_newest_first_with_a_cursor(client: Client, shop: Shop) -> None:
    form_id = await _form(client, shop)
    ids = [(await _submit(client, form_id))[1]["submissionId"] for _ in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        resp = await client.get(f"/api/forms/{form_id}/submissions", params=params, headers=shop.headers)
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        seen += [s["id"] for s in page["submissions"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    bad = await client.get(f"/api/forms/{form_id}/submissions", params={"cursor": "nope"}, headers=shop.headers)
    assert bad.status == 422
