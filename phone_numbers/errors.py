"""Typed errors of the phone_numbers package; the numbers routes map each to a status and code once."""

from __future__ import annotations


class NumberError(Exception):
    """Base of every error this package raises on purpose."""


class NumberUnavailable(NumberError):
    """The number can't be had: Twilio no longer offers it (21422) or a business already has it."""

    def __init__(self, phone_number: str) -> None:
        super().__init__(f"{phone_number} is no longer available")
        self.phone_number = phone_number


class PrimaryNumberRelease(NumberError):
    """The business's primary number can't be released while it is primary."""

    def __init__(self) -> None:
        super().__init__("the primary number can't be released; make another number primary first")


class PriceNotConfigured(NumberError, ValueError):
    """No monthly price is configured for this country and number type, so it isn't sold."""

    def __init__(self, country: str, number_type: str) -> None:
        super().__init__(f"no {number_type} numbers are offered in {country}")
        self.country = country
        self.number_type = number_type


class NumberNotFound(NumberError):
    """No such number for this business (or, on import, not in the Twilio account)."""


class CarrierNotConfigured(NumberError):
    """TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN are not set, so Twilio can't be asked."""

    def __init__(self) -> None:
        super().__init__("Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)")
