"""Stream tokens: valid only for the call id, CallSid and key they were minted with, until they expire."""

from __future__ import annotations

import uuid

from agent_server import stream_tokens

KEY, CALL_ID, SID, NOW = "twilio-auth-token", uuid.uuid4(), "CA" + "a" * 32, 1_800_000_000.0


def test_a_token_verifies_for_its_call_until_it_expires() -> None:
    token = stream_tokens.mint(KEY, CALL_ID, SID, 60, now=NOW)
    assert stream_tokens.verify(KEY, token, CALL_ID, SID, now=NOW + 60)
    assert not stream_tokens.verify(KEY, token, CALL_ID, SID, now=NOW + 61)


def test_a_token_is_bound_to_the_call_id_the_call_sid_and_the_key() -> None:
    token = stream_tokens.mint(KEY, CALL_ID, SID, 60, now=NOW)
    assert not stream_tokens.verify(KEY, token, uuid.uuid4(), SID, now=NOW)
    assert not stream_tokens.verify(KEY, token, CALL_ID, "CA" + "b" * 32, now=NOW)
    assert not stream_tokens.verify("another-token", token, CALL_ID, SID, now=NOW)


def test_a_later_expiry_cannot_be_written_onto_a_token() -> None:
    mac = stream_tokens.mint(KEY, CALL_ID, SID, 60, now=NOW).partition(".")[2]
    assert not stream_tokens.verify(KEY, f"{int(NOW) + 3600}.{mac}", CALL_ID, SID, now=NOW + 120)


def test_malformed_tokens_and_an_empty_key_never_verify() -> None:
    for token in ("", "9", ".", "abc.def", f"{int(NOW) + 60}.", "-1.x"):
        assert not stream_tokens.verify(KEY, token, CALL_ID, SID, now=NOW)
    token = stream_tokens.mint("", CALL_ID, SID, 60, now=NOW)
    assert not stream_tokens.verify("", token, CALL_ID, SID, now=NOW)
