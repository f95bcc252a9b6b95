"""The phone carrier interface: what the product needs from Twilio, in our own types.

Numbers (search, buy, release, point webhooks at us), SMS sending and live-call control
all go through one small interface, so the REST client sits behind it and tests reach a
local fake of Twilio's API through the same code path (`TWILIO_API_BASE`).
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Protocol

NumberType = Literal["local", "toll_free", "mobile"]


class CarrierError(Exception):
    """The carrier refused or failed a request.

    Attributes:
        status: HTTP status of the carrier's answer (0 when it never answered).
        code: the carrier's own error code (Twilio's, e.g. 21422 number unavailable), if any.
    """

    def __init__(self, message: str, *, status: int = 0, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclasses.dataclass(frozen=True)
class Capabilities:
    voice: bool
    sms: bool
    mms: bool


@dataclasses.dataclass(frozen=True)
class AvailableNumber:
    phone_number: str
    friendly_name: str
    locality: str
    region: str
    capabilities: Capabilities
    address_requirements: str


@dataclasses.dataclass(frozen=True)
class OwnedNumber:
    sid: str
    phone_number: str
    capabilities: Capabilities
    voice_url: str
    sms_url: str
    status_callback: str


@dataclasses.dataclass(frozen=True)
class Webhooks:
    """Where the carrier should send a number's calls, messages and call status."""

    voice_url: str
    sms_url: str
    status_callback: str


@dataclasses.dataclass(frozen=True)
class CarrierMessage:
    """An outbound message as the carrier holds it (`error_code`: Twilio's, on failed or undelivered ones)."""

    sid: str
    body: str
    status: str
    error_code: int | None = None


class PhoneCarrier(Protocol):
    async def search(self, country: str, number_type: NumberType, *, area_code: str | None = None,
                     contains: str | None = None, limit: int = 20) -> list[AvailableNumber]: ...

    async def buy(self, phone_number: str, webhooks: Webhooks) -> OwnedNumber: ...

    async def release(self, sid: str) -> None: ...

    async def find_owned(self, phone_number: str) -> OwnedNumber | None: ...

    async def configure(self, sid: str, webhooks: Webhooks) -> OwnedNumber: ...

    async def send_sms(self, from_number: str, to_number: str, body: str) -> str:
        """Send a message; returns the carrier's message id."""
        ...

    async def send_message(self, from_number: str, to_number: str, body: str, *, status_callback: str,
                           validity_seconds: int | None = None) -> CarrierMessage:
        """Send a message whose status changes are posted to `status_callback`."""
        ...

    async def recent_messages(self, from_number: str, to_number: str, *, limit: int = 20) -> list[CarrierMessage]:
        """The latest messages sent from one number to another, newest first (to tell if a lost send went out)."""
        ...

    async def fetch_message(self, sid: str) -> CarrierMessage | None:
        """One message as the carrier holds it now, or None when it has none by that sid."""
        ...

    async def end_call(self, call_sid: str) -> None: ...

    async def redirect_call(self, call_sid: str, twiml: str) -> None:
        """Replace a live call's instructions (e.g. `<Dial>` to transfer it)."""
        ...

    async def aclose(self) -> None: ...
