"""The SMTP mailer against a local SMTP server: sent, 4xx and unreachable are temporary, 5xx is final."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator

import pytest

from mail.errors import MailRejected, TemporaryMailError
from mail.message import Outgoing, compose
from mail.smtp import SmtpMailer, SmtpTarget
from tests.fake_smtp import FakeSmtp

NOW = datetime.datetime(2026, 3, 4, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture
async def smtp() -> AsyncIterator[FakeSmtp]:
    async with FakeSmtp() as fake:
        yield fake


@pytest.fixture
async def mailer(smtp: FakeSmtp) -> AsyncIterator[SmtpMailer]:
    created = SmtpMailer(SmtpTarget.parse(smtp.url), timeout_seconds=5)
    yield created
    await created.close()


async def test_a_sent_message_arrives_and_returns_the_servers_queue_id(smtp: FakeSmtp, mailer: SmtpMailer) -> None:
    message = compose(Outgoing("owner@example.com", "Hello", "Plain", "<p>Plain</p>"), sender="alerts@example.com",
                      msgid="<m1@example.com>", now=NOW)
    assert await mailer.send(message) == "Q1"
    (received,) = smtp.received
    assert received["Subject"] == "Hello" and received["Message-ID"] == "<m1@example.com>"
    assert smtp.envelopes == [("alerts@example.com", ["owner@example.com"])]


async def test_a_4xx_reply_is_temporary_and_a_5xx_is_final(smtp: FakeSmtp, mailer: SmtpMailer) -> None:
    message = compose(Outgoing("owner@example.com", "Hello", "Plain"), sender="alerts@example.com",
                      msgid="<m1@example.com>", now=NOW)
    smtp.data_replies.append("451 4.3.0 try again later")
    with pytest.raises(TemporaryMailError, match="451"):
        await mailer.send(message)
    smtp.data_replies.append("554 5.7.1 message refused")
    with pytest.raises(MailRejected, match="554"):
        await mailer.send(message)
    smtp.refuse["nobody@example.com"] = "550 5.1.1 no such mailbox"
    del message["To"]
    message["To"] = "nobody@example.com"
    with pytest.raises(MailRejected, match="550"):
        await mailer.send(message)
    assert smtp.received == []


async def test_an_unreachable_server_is_temporary(smtp: FakeSmtp, mailer: SmtpMailer) -> None:
    await smtp.stop()
    message = compose(Outgoing("owner@example.com", "Hello", "Plain"), sender="alerts@example.com",
                      msgid="<m1@example.com>", now=NOW)
    with pytest.raises(TemporaryMailError, match="unreachable"):
        await mailer.send(message)


async def test_connections_are_kept_between_emails_and_a_dropped_one_is_replaced(
        smtp: FakeSmtp, mailer: SmtpMailer) -> None:
    message = compose(Outgoing("owner@example.com", "Hello", "Plain"), sender="alerts@example.com",
                      msgid="<m1@example.com>", now=NOW)
    for _ in range(3):
        await mailer.send(message)
    assert smtp.connections == 1
    await smtp.stop()
    await smtp.start()
    await smtp.drop_clients()
    assert await mailer.send(message) == "Q4"
    assert smtp.connections == 2


@pytest.mark.parametrize(("url", "target"), [
    ("smtp://127.0.0.1:2525", SmtpTarget("127.0.0.1", 2525, None, None, use_tls=False, start_tls=False)),
    ("smtp+starttls://user%40x:p%2Fss@mail.example.com:587",
     SmtpTarget("mail.example.com", 587, "user@x", "p/ss", use_tls=False, start_tls=True)),
    ("smtp+starttls://u:p@mail.example.com", SmtpTarget("mail.example.com", 587, "u", "p", False, True)),
    ("smtps://u:p@mail.example.com", SmtpTarget("mail.example.com", 465, "u", "p", use_tls=True, start_tls=False)),
])
def test_smtp_urls_parse(url: str, target: SmtpTarget) -> None:
    assert SmtpTarget.parse(url) == target


@pytest.mark.parametrize("url", ["http://u:secret@mail.example.com", "smtp://u:secret@", "smtp://u:secret@host:notaport"])
def test_bad_smtp_urls_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        SmtpTarget.parse(url)
    assert "secret" not in str(caught.value)
