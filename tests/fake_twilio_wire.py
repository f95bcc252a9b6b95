"""The Twilio fake's wire pieces: the request log's entry, injected faults, and Twilio's error document."""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from typing import Any

API_PREFIX = "/2010-04-01/Accounts"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
TYPE_SEGMENTS = {"local": "Local", "toll_free": "TollFree", "mobile": "Mobile"}


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it (path relative to the account, e.g. ``Messages.json``)."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]


@dataclass
class Failure:
    """A fault a test injects for requests matching `pattern` (`after`: the request still takes effect)."""

    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    times: int
    after: bool


def now() -> str:
    """An RFC 2822 date, as Twilio writes `date_created`."""
    return email.utils.formatdate(usegmt=False)


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's legacy error document, which the SDK turns into `TwilioRestException`."""
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
