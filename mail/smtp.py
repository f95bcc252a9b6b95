"""The SMTP mailer (aiosmtplib): one connection per email, the URL from `SMTP_URL`.

`smtp://host:port` speaks plain SMTP (a relay on localhost or the test server),
`smtp+starttls://user:pass@host:587` upgrades with STARTTLS and refuses a server that can't,
`smtps://user:pass@host:465` is TLS from the first byte. User and password are URL-decoded.
"""

from __future__ import annotations

import dataclasses
import re
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

from mail.errors import MailRejected, TemporaryMailError

_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
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
    """Sends each message over its own SMTP connection to one server."""

    def __init__(self, target: SmtpTarget, *, timeout_seconds: float) -> None:
        self._target = target
        self._timeout = timeout_seconds

    async def send(self, message: EmailMessage) -> str:
        t = self._target
        try:
            _, response = await aiosmtplib.send(
                message, hostname=t.hostname, port=t.port, username=t.username, password=t.password,
                use_tls=t.use_tls, start_tls=t.start_tls, timeout=self._timeout)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            raise _by_code(refused.code, refused.message) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Wrong credentials are the operator's to fix; the email itself is fine.
            raise TemporaryMailError(f"SMTP authentication failed: {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, exc.message) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryMailError(f"SMTP server unreachable: {type(exc).__name__}: {exc}") from None
        queued = _QUEUED_AS.search(response)
        return queued.group(1) if queued else str(message["Message-ID"])


def _by_code(code: int, text: str) -> Exception:
    if 500 <= code < 600:
        return MailRejected(f"{code} {text}")
    return TemporaryMailError(f"{code} {text}")
