"""The mailer interface: what the outbox sends through (SMTP in production, any fake in a bench)."""

from __future__ import annotations

from email.message import Message
from typing import Protocol


class Mailer(Protocol):
    async def send(self, message: Message) -> str:
        """Hand `message` to the mail server.

        Returns:
            The server's id for it (its queue id when it says one, else the Message-ID).

        Raises:
            TemporaryMailError: 4xx, or the server could not be reached: try again later.
            MailRejected: 5xx: never try again.
        """
        ...

    async def close(self) -> None:
        """Close any connection kept open between sends."""
        ...
