"""Composed emails: a text part always, Message-ID and Date set, addresses checked, no header injection."""

from __future__ import annotations

import datetime

import pytest

from mail.message import Outgoing, check_address, compose, message_id

NOW = datetime.datetime(2026, 3, 4, 10, 0, tzinfo=datetime.UTC)
SENDER = "alerts@agent.example.com"


def test_a_message_has_text_and_html_parts_a_message_id_and_a_date() -> None:
    message = compose(Outgoing("Owner@Example.COM", "New lead", "Plain words", "<p>Plain words</p>"),
                      sender=SENDER, msgid=message_id("outbox:1", SENDER), now=NOW)
    assert message["To"] == "Owner@example.com"
    assert message["Date"] == "Wed, 04 Mar 2026 10:00:00 +0000"
    assert message["Message-ID"] == message_id("outbox:1", SENDER)
    assert message["Message-ID"].endswith("@agent.example.com>")
    assert [part.get_content_type() for part in message.walk()] == ["multipart/alternative", "text/plain", "text/html"]


def test_a_message_without_html_is_plain_text() -> None:
    message = compose(Outgoing("owner@example.com", "Hi", "Only text"), sender=SENDER, msgid="<a@b>", now=NOW)
    assert message.get_content_type() == "text/plain"
    assert message.get_payload(decode=True) == b"Only text"


def test_non_ascii_subjects_and_domains_are_encoded() -> None:
    message = compose(Outgoing("ann@bücher.example", "Grüße", "x"), sender=SENDER, msgid="<a@b>", now=NOW)
    assert message["To"] == "ann@xn--bcher-kva.example"
    assert message["Subject"] == "=?utf-8?b?R3LDvMOfZQ==?="


def test_message_ids_are_stable_per_key_and_differ_between_keys() -> None:
    assert message_id("outbox:1", SENDER) == message_id("outbox:1", SENDER) != message_id("outbox:2", SENDER)


@pytest.mark.parametrize("outgoing", [
    Outgoing("owner@example.com", "Hello\r\nBcc: victim@example.com", "x"),
    Outgoing("owner@example.com", "Hello\nBcc: victim@example.com", "x"),
    Outgoing("owner@example.com\r\nBcc: victim@example.com", "Hello", "x"),
    Outgoing("owner@example.com", "Hello", "x", headers={"X-Tag": "a\rb"}),
])
def test_a_line_break_in_any_header_value_is_refused(outgoing: Outgoing) -> None:
    with pytest.raises(ValueError, match="line break"):
        compose(outgoing, sender=SENDER, msgid="<a@b>", now=NOW)


@pytest.mark.parametrize("address", ["not-an-address", "a@", "@example.com", "a b@example.com", "a@@example.com"])
def test_invalid_address_syntax_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="not a valid email address"):
        check_address(address)


def test_address_syntax_is_checked_without_dns() -> None:
    assert check_address("someone@no-such-domain-for-sure.invalid-tld-zz") == "someone@no-such-domain-for-sure.invalid-tld-zz"
