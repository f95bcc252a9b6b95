"""The `[mail]` config section: the SMTP server (a secret URL) and the sender address."""

from __future__ import annotations

import dataclasses

from config_fields import check, positive
from mail.message import check_address
from mail.smtp import SmtpTarget


def _optional_address(value: str) -> str:
    return check_address(value) if value else value


def _optional_smtp_url(value: str) -> str:
    if value:
        SmtpTarget.parse(value)
    return value


@dataclasses.dataclass(frozen=True)
class MailConfig:
    # SMTP_URL: smtp://host:port, smtp+starttls://user:pass@host:587 or smtps://user:pass@host:465.
    # Empty: no mail leaves the server; each email is kept as `held` (`agent-server mail list`).
    smtp_url: str = dataclasses.field(default="", metadata={"secret": True, "check": _optional_smtp_url})
    # MAIL_FROM: the From address of every email; its domain names the Message-IDs.
    from_address: str = check(_optional_address, "")
    # One SMTP conversation (connect to the end of DATA) may take this long.
    timeout_seconds: float = check(positive, 15.0)
