"""How a send went wrong: worth trying again later, or never."""

from __future__ import annotations


class TemporaryMailError(Exception):
    """The server said 4xx, or could not be reached: the same email may go through later."""


class MailRejected(Exception):
    """The server said 5xx (no such mailbox, refused content): sending it again would fail again."""
