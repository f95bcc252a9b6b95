"""The voice webhook as Twilio calls it: the request signature, and the TwiML answer read back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Final

from twilio.request_validator import RequestValidator

VOICE_PATH: Final = "/api/voice-agent/handle-call"


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's ``X-Twilio-Signature`` for ``url`` and form ``params``."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


def parse_twiml(xml: str) -> tuple[str | None, dict[str, str], str | None]:
    """The stream URL and parameters of ``<Connect><Stream>``, or what a refused caller hears.

    A refusal is the ``<Say>`` text, or ``"rejected: <reason>"`` for a ``<Reject>`` (a busy
    signal or a number that seems not to exist; nothing is said).
    """
    root = ET.fromstring(xml)
    stream = root.find("./Connect/Stream")
    reject = root.find("./Reject")
    if stream is None and reject is not None:
        return None, {}, f"rejected: {reject.get('reason', 'rejected')}"
    if stream is None:
        say = root.find("./Say")
        return None, {}, (say.text or "") if say is not None else ""
    params = {p.get("name", ""): p.get("value", "") for p in stream.findall("./Parameter")}
    return stream.get("url"), params, None
