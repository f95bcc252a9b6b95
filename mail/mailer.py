"""The mailer interface: what the outbox sends through (SMTP in production, any fake in a bench)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> str:
        """Hand `message` to the mail server.

        Returns:
            The server's id for it (its queue id when it says one, else the Message-ID).

        Raises:
            TemporaryMailError: 4xx, or the server could not be reached: try again later.
            MailRejected: 5xx: never try again.
        """
        ...
