"""The voice webhook and status callback: signed requests only, TwiML that opens the stream, status moving forward."""

from __future__ import annotations

from typing import Any

import pytest

from media.caller_simulator import parse_twiml, sign
from tests.calls.conftest import AUTH_TOKEN, NUMBER
from tests.conftest import PUBLIC_URL

VOICE = "/api/voice-agent/handle-call"
STATUS = "/api/voice-agent/status"


def webhook_form(call_sid: str = "CA" + "a" * 32, to: str = NUMBER) -> dict[str, str]:
    return {"CallSid": call_sid, "AccountSid": "AC" + "0" * 32, "From": "+15551230000", "To": to,
            "CallStatus": "ringing", "Direction": "inbound"}


async def post_signed(line: Any, path: str, form: dict[str, str], token: str = AUTH_TOKEN) -> tuple[int, str]:
    headers = {"X-Twilio-Signature": sign(token, PUBLIC_URL + path, form)}
    resp = await line.client.post(path, data=form, headers=headers)
    return resp.status, await resp.text()


async def test_call_to_a_known_number_connects_a_media_stream_with_a_signed_token(line_factory: Any) -> None:
    line = await line_factory()
    status, body = await post_signed(line, VOICE, webhook_form())
    assert status == 200
    url, params, refusal = parse_twiml(body)
    assert refusal is None
    assert url == "wss://agent.example.test/api/voice-agent/stream"
    assert set(params) == {"callId", "token"}
    row = await line.call_row("CA" + "a" * 32)
    assert str(row["id"]) == params["callId"] and row["status"] == "ringing"
    assert row["business_id"] == line.tenant.business_id


async def test_webhook_retry_records_the_call_once(line_factory: Any) -> None:
    line = await line_factory()
    first = parse_twiml((await post_signed(line, VOICE, webhook_form()))[1])[1]["callId"]
    second = parse_twiml((await post_signed(line, VOICE, webhook_form()))[1])[1]["callId"]
    assert first == second
    assert await line.pool.fetchval("SELECT count(*) FROM calls") == 1


@pytest.mark.parametrize("token", ["wrong-token", ""])
async def test_forged_webhook_is_refused_and_writes_nothing(line_factory: Any, token: str) -> None:
    line = await line_factory()
    form = webhook_form()
    headers = {"X-Twilio-Signature": sign(token, PUBLIC_URL + VOICE, form)} if token else {}
    resp = await line.client.post(VOICE, data=form, headers=headers)
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "TWILIO_SIGNATURE_INVALID"
    assert await line.pool.fetchval("SELECT count(*) FROM calls") == 0


async def test_unknown_number_hears_a_polite_message_and_is_hung_up(line_factory: Any) -> None:
    line = await line_factory()
    status, body = await post_signed(line, VOICE, webhook_form(to="+14155559999"))
    assert status == 200
    url, _, refusal = parse_twiml(body)
    assert url is None and refusal == line.settings.calls.unavailable_text
    assert "<Hangup />" in body
    assert await line.pool.fetchval("SELECT count(*) FROM calls") == 0


async def test_status_callbacks_move_forward_only_and_keep_the_duration(line_factory: Any) -> None:
    line = await line_factory()
    await post_signed(line, VOICE, webhook_form())
    sid = "CA" + "a" * 32
    done = {"CallSid": sid, "CallStatus": "completed", "CallDuration": "42"}
    assert (await post_signed(line, STATUS, done))[0] == 200
    late = {"CallSid": sid, "CallStatus": "in-progress"}
    assert (await post_signed(line, STATUS, late))[0] == 200
    assert (await post_signed(line, STATUS, done | {"CallDuration": "43"}))[0] == 200
    row = await line.call_row(sid)
    assert row["status"] == "completed" and row["twilio_duration_seconds"] == 42
    forged = await line.client.post(STATUS, data=done, headers={"X-Twilio-Signature": "bogus"})
    assert forged.status == 403


async def test_calls_beyond_max_live_calls_get_a_busy_signal_and_are_recorded(line_factory: Any) -> None:
    """At the cap a new call is rejected as busy (never answered, nothing held); a call ending frees a place."""
    line = await line_factory(calls={"max_live_calls": 2})
    first, second, third = ("CA" + c * 32 for c in "abc")
    for sid in (first, second):
        url, _, _ = parse_twiml((await post_signed(line, VOICE, webhook_form(sid)))[1])
        assert url is not None
    status, body = await post_signed(line, VOICE, webhook_form(third))
    assert status == 200
    assert parse_twiml(body) == (None, {}, "rejected: busy")
    row = await line.call_row(third)
    assert (row["status"], row["end_reason"], row["duration_seconds"]) == ("busy", "at_capacity", 0)
    assert row["ended_at"] is not None
    assert await line.pool.fetchval("SELECT count(*) FROM call_meters WHERE call_sid = $1", third) == 0
    assert await line.pool.fetchval("SELECT count(*) FROM holds") == 2
    metrics = await (await line.client.get("/metrics")).text()
    assert "agent_calls_rejected_total 1.0" in metrics

    await post_signed(line, STATUS, {"CallSid": first, "CallStatus": "completed", "CallDuration": "5"})
    url, _, _ = parse_twiml((await post_signed(line, VOICE, webhook_form("CA" + "d" * 32)))[1])
    assert url is not None


async def test_calls_are_taken_without_limit_when_max_live_calls_is_zero(line_factory: Any) -> None:
    line = await line_factory()
    assert line.settings.calls.max_live_calls == 0
    for c in "abcde":
        url, _, _ = parse_twiml((await post_signed(line, VOICE, webhook_form("CA" + c * 32)))[1])
        assert url is not None
