"""The form fields Twilio posts to our webhooks, declared for the OpenAPI document.

The handlers read these forms only after `twilio_signature.verified_form` has checked the
signature over every field, so the fields are documented here rather than decoded into a
Struct: a field Twilio adds must still count in the signature and never be refused.
"""

from __future__ import annotations

import msgspec

from agent_server.api.route import Header

SIGNATURE = Header("X-Twilio-Signature", "HMAC-SHA1 of PUBLIC_URL + path and the sorted form fields, "
                   "keyed by the Twilio auth token; refused (403) when absent or wrong", required=True)


class VoiceWebhookForm(msgspec.Struct, rename="pascal", kw_only=True):
    """A call to one of our numbers (Twilio's voice webhook; more fields may be present)."""

    call_sid: str = ""
    account_sid: str = ""
    from_: str = msgspec.field(default="", name="From")
    to: str = ""
    call_status: str = ""
    direction: str = ""


class StatusCallbackForm(msgspec.Struct, rename="pascal", kw_only=True):
    """A call's status change (Twilio's status callback)."""

    call_sid: str = ""
    call_status: str = ""
    call_duration: str = ""


class SmsWebhookForm(msgspec.Struct, rename="pascal", kw_only=True):
    """A text to one of our numbers (SMS, or WhatsApp with `whatsapp:` addresses)."""

    message_sid: str = ""
    account_sid: str = ""
    from_: str = msgspec.field(default="", name="From")
    to: str = ""
    body: str = ""
    opt_out_type: str = ""
