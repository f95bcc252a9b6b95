"""A form as the model's tool: fixed order, errors back to the model per field, one submission when right."""

from __future__ import annotations

import datetime
import uuid

import asyncpg
import orjson

from automations import form_store
from automations.form_model import Form, FormField, FormSpec, checked_spec
from automations.form_tools import form_named, submit_tool_call, tools_for
from tests.automations.conftest import Shop

NOW = datetime.datetime(2026, 12, 8, 12, 0, tzinfo=datetime.UTC)


async def _form(pool: asyncpg.Pool, shop: Shop, name: str, **settings: object) -> Form:
    spec = checked_spec(FormSpec(name=name, fields=[FormField(id="name", label="Name", type="text", required=True),
                                                    FormField(id="email", label="Email", type="email",
                                                              required=True)], **settings))  # type: ignore[arg-type]
    return await form_store.create(pool, shop.tenant.business_id, shop.agent_id, spec, now=NOW)


async def test_tools_come_in_a_fixed_order_and_only_for_active_forms(pool: asyncpg.Pool, shop: Shop) -> None:
    forms = [await _form(pool, shop, "Zebra"), await _form(pool, shop, "Apple"),
             await _form(pool, shop, "Off", is_active=False)]
    tools = tools_for(forms)
    assert [t["function"]["name"] for t in tools] == ["form_apple", "form_zebra"]
    assert tools[0]["function"]["parameters"]["required"] == ["name", "email"]
    assert form_named(forms, "form_zebra") is forms[0] and form_named(forms, "form_off") is None


async def test_a_bad_email_goes_back_to_the_model_and_the_corrected_call_saves_one_submission(
        pool: asyncpg.Pool, shop: Shop) -> None:
    form = await _form(pool, shop, "Callback")
    conversation = uuid.uuid4()
    first = await submit_tool_call(pool, form, '{"name": "Ann", "email": "ann at example"}', channel="sms",
                                   conversation_id=conversation, region="US", now=NOW)
    assert first.submission_id is None
    assert orjson.loads(first.content)["errors"][0]["field"] == "email"
    for bad in ("not json", "[1]"):
        outcome = await submit_tool_call(pool, form, bad, channel="sms", conversation_id=conversation, region="US",
                                         now=NOW)
        assert orjson.loads(outcome.content)["errors"][0]["code"] == "invalid_json"
    assert await pool.fetchval("SELECT count(*) FROM form_submissions") == 0
    second = await submit_tool_call(pool, form, '{"name": "Ann", "email": "ann@example.com"}', channel="sms",
                                    conversation_id=conversation, region="US", now=NOW)
    assert orjson.loads(second.content) == {"submitted": True, "submissionId": str(second.submission_id),
                                            "message": "Thank you! We received your answers."}
    row = await pool.fetchrow("SELECT channel, conversation_id, data FROM form_submissions")
    assert (row["channel"], row["conversation_id"], row["data"]) == (
        "sms", conversation, {"name": "Ann", "email": "ann@example.com"})


async def test_the_same_tool_call_twice_saves_one_submission_with_one_email_and_one_webhook(
        pool: asyncpg.Pool, shop: Shop) -> None:
    """A turn asked again (a retry, a re-sent SMS) repeats its tool call's id: one submission, the same answer."""
    await pool.execute("INSERT INTO webhook_endpoints (business_id, url, secret, event_types, created_at,"
                       " updated_at) VALUES ($1, 'https://hooks.example/x', 'whsec_x', ARRAY['form.submitted'],"
                       " now(), now())",
                       shop.tenant.business_id)
    form = await _form(pool, shop, "Callback", notification_email="owner@example.com")
    conversation = uuid.uuid4()
    arguments = '{"name": "Ann", "email": "ann@example.com"}'
    key = f"{conversation}:call_1"
    first, again = [await submit_tool_call(pool, form, arguments, channel="sms", conversation_id=conversation,
                                           region="US", now=NOW, key=key) for _ in range(2)]
    assert again.submission_id == first.submission_id is not None and again.content == first.content
    other = await submit_tool_call(pool, form, arguments, channel="sms", conversation_id=conversation, region="US",
                                   now=NOW, key=f"{conversation}:call_2")
    assert other.submission_id not in (None, first.submission_id)
    assert await pool.fetchval("SELECT count(*) FROM form_submissions") == 2
    assert await pool.fetchval("SELECT count(*) FROM email_outbox") == 2
    assert await pool.fetchval("SELECT count(*) FROM webhook_messages") == 2


async def test_a_form_with_terms_needs_the_persons_yes(pool: asyncpg.Pool, shop: Shop) -> None:
    form = await _form(pool, shop, "Signup", terms_and_conditions="We keep your details.",
                       require_terms_acceptance=True)
    (tool,) = tools_for([form])
    assert "termsAccepted" in tool["function"]["parameters"]["required"]
    refused = await submit_tool_call(pool, form, '{"name": "Ann", "email": "ann@example.com"}', channel="voice",
                                     conversation_id=None, region="US", now=NOW)
    assert orjson.loads(refused.content)["errors"][0]["field"] == "termsAccepted"
    done = await submit_tool_call(pool, form, '{"name": "Ann", "email": "ann@example.com", "termsAccepted": true}',
                                  channel="voice", conversation_id=None, region="US", now=NOW)
    assert done.submission_id is not None
    assert await pool.fetchval("SELECT terms_accepted FROM form_submissions") is True
