"""An email as it goes on the wire: addresses checked, no header injection, Message-ID and Date set.

Built with the `compat32` MIME classes rather than `EmailMessage`: the modern policy parses
every header it is given back into objects (a millisecond per email, most of a send's CPU),
and the checks that matter here are done before: addresses by email-validator, line breaks
by `check_header`. Non-ASCII header values are RFC 2047 encoded.

Every header value is refused if it holds CR or LF (a subject with "\\r\\nBcc: ..." would add
a recipient); the error is a `ValueError`, which the shell answers as 422.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import hashlib
from collections.abc import Mapping
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from email_validator import EmailNotValidError, validate_email


def check_address(address: str) -> str:
    """The address normalised (domain lower-cased, in IDNA when ASCII allows), checked for syntax only (no DNS).

    Raises:
        ValueError: not an email address.
    """
    check_header("address", address)
    try:
        valid = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None
    return valid.ascii_email or valid.normalized


def check_header(name: str, value: str) -> str:
    """Raises: ValueError when `value` could end its header line and start another."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name} must not contain a line break")
    return value


@dataclasses.dataclass(frozen=True)
class Outgoing:
    """One email to one recipient, ready to compose."""

    recipient: str
    subject: str
    text: str
    html: str | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


def message_id(key: str, sender: str) -> str:
    """A Message-ID derived from `key` (the outbox row), so every retry of one email sends the same one."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"<{digest}@{sender.rsplit('@', 1)[-1]}>"


def _encoded(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def compose(outgoing: Outgoing, *, sender: str, msgid: str, now: datetime.datetime) -> Message:
    """The MIME message: a plain-text part always, the HTML part as its alternative when given.

    Raises:
        ValueError: an address is invalid or a header value holds a line break.
    """
    text = MIMEText(outgoing.text, "plain", "utf-8")
    message: Message = text
    if outgoing.html is not None:
        message = MIMEMultipart("alternative")
        message.attach(text)
        message.attach(MIMEText(outgoing.html, "html", "utf-8"))
    message["From"] = _encoded(check_address(sender))
    message["To"] = _encoded(check_address(outgoing.recipient))
    message["Subject"] = _encoded(check_header("subject", outgoing.subject))
    message["Date"] = email.utils.format_datetime(now.astimezone(datetime.UTC))
    # An email of a thread (a ticket's) brings its own stored Message-ID, which replies name.
    own_id = {name.lower(): value for name, value in outgoing.headers.items()}.get("message-id", msgid)
    message["Message-ID"] = check_header("Message-ID", own_id)
    for name, value in outgoing.headers.items():
        if name.lower() != "message-id":
            message[check_header("header name", name)] = _encoded(check_header(name, value))
    return message
