"""The messaging domain's errors; the shell maps each to a status and code once."""

from __future__ import annotations


class MessagingError(Exception):
    """Base of the errors below."""


class InvalidPhone(MessagingError):
    """Not a phone number `phonenumbers` accepts as valid (a 422 naming the field)."""

    def __init__(self, field: str, raw: str) -> None:
        super().__init__(f"{raw!r} is not a valid phone number")
        self.field = field


class ContactExists(MessagingError):
    """The business already has a live contact with this phone (409 CONTACT_EXISTS)."""

    def __init__(self, phone: str) -> None:
        super().__init__(f"a contact with phone {phone} already exists")


class NotFound(MessagingError):
    """No such contact, list or message in this business (the same 404 as another business's)."""


class RecipientOptedOut(MessagingError):
    """The phone opted out of this business's texts (409 RECIPIENT_OPTED_OUT)."""

    def __init__(self, phone: str) -> None:
        super().__init__(f"{phone} opted out of this business's texts")


class NumberNotSmsCapable(MessagingError):
    """The sending number can't send texts, or the business has none that can (422)."""


class NotRetryable(MessagingError):
    """Only a failed, undelivered or canceled message can be sent again (409)."""
