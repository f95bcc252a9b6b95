"""The SMTP mailer (aiosmtplib), the URL from `SMTP_URL`; connections are kept open between emails.

A connection costs a TCP (and TLS) handshake, EHLO, AUTH and QUIT: most of a send on
loopback. After a successful send the connection waits, idle, for the next email (at most
`MAX_IDLE` of them, each for `IDLE_SECONDS`); after any error it is closed. A kept connection
the server has dropped meanwhile is replaced once, transparently.

`smtp://host:port` speaks plain SMTP (a relay on localhost or the test server),
`smtp+starttls://user:pass@host:587` upgrades with STARTTLS and refuses a server that can't,
`smtps://user:pass@host:465` is TLS from the first byte. User and password are URL-decoded.
"""

from __future__ import annotations

import dataclasses
import re
import time
from email.message import Message
from urllib.parse import unquote, urlsplit

import aiosmtplib

from mail.errors import MailRejected, TemporaryMailError

_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
MAX_IDLE = 16
IDLE_SECONDS = 10.0
_QUEUED_AS = re.compile(r"queued as ([A-Za-z0-9._-]+)", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class SmtpTarget:
    """Where and how to connect, parsed from an SMTP URL."""

    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        """Raises: ValueError naming what is wrong (the password is never quoted back)."""
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS:
            raise ValueError(f"SMTP URL scheme must be one of {', '.join(_DEFAULT_PORTS)}, got {parts.scheme!r}")
        if not parts.hostname:
            raise ValueError("SMTP URL has no host")
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise ValueError("SMTP URL has an invalid port") from None
        return cls(hostname=parts.hostname, port=port,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None,
                   use_tls=parts.scheme == "smtps", start_tls=parts.scheme == "smtp+starttls")


class SmtpMailer:
    """Sends to one SMTP server, reusing connections between emails."""

    def __init__(self, target: SmtpTarget, *, timeout_seconds: float) -> None:
        self._target = target
        self._timeout = timeout_seconds
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []

    async def send(self, message: Message) -> str:
        client = self._take_idle()
        try:
            if client is None:
                client = await self._connect()
                response = await client.send_message(message)
            else:
                try:
                    response = await client.send_message(message)
                except aiosmtplib.SMTPServerDisconnected:
                    client.close()
                    client = await self._connect()
                    response = await client.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            _discard(client)
            refused = exc.recipients[0]
            raise _by_code(refused.code, refused.message) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            _discard(client)
            # Wrong credentials are the operator's to fix; the email itself is fine.
            raise TemporaryMailError(f"SMTP authentication failed: {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPResponseException as exc:
            _discard(client)
            raise _by_code(exc.code, exc.message) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            _discard(client)
            raise TemporaryMailError(f"SMTP server unreachable: {type(exc).__name__}: {exc}") from None
        self._keep(client)
        queued = _QUEUED_AS.search(response[1])
        return queued.group(1) if queued else str(message["Message-ID"])

    async def close(self) -> None:
        while self._idle:
            client, _ = self._idle.pop()
            client.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        t = self._target
        client = aiosmtplib.SMTP(hostname=t.hostname, port=t.port, username=t.username, password=t.password,
                                 use_tls=t.use_tls, start_tls=t.start_tls, timeout=self._timeout)
        try:
            await client.connect()
        except BaseException:
            client.close()
            raise
        return client

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client, since = self._idle.pop()
            if time.monotonic() - since < IDLE_SECONDS and client.is_connected:
                return client
            client.close()
        return None

    def _keep(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < MAX_IDLE:
            self._idle.append((client, time.monotonic()))
        else:
            client.close()


def _discard(client: aiosmtplib.SMTP | None) -> None:
    if client is not None:
        client.close()


def _by_code(code: int, text: str) -> Exception:
    if 500 <= code < 600:
        return MailRejected(f"{code} {text}")
    return TemporaryMailError(f"{code} {text}")
