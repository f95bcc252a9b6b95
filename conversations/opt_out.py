"""Classifying an inbound SMS as a carrier keyword (STOP / START / HELP and their synonyms).

Carriers and Twilio treat a message that is exactly one of these words (any case, with
surrounding blanks or punctuation; "stop all" and "opt out" as their one-word forms) as a
command, not as conversation: Twilio blocks or unblocks the sender and sends its own auto-reply, so we must record the change and never
answer these with the AI.
"""

from __future__ import annotations

import enum
import re
from typing import Final


class Keyword(enum.Enum):
    STOP = "STOP"
    START = "START"
    HELP = "HELP"


_KEYWORDS: Final[dict[str, Keyword]] = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"),
                    Keyword.STOP),
    **dict.fromkeys(("START", "YES", "UNSTOP"), Keyword.START),
    **dict.fromkeys(("HELP", "INFO"), Keyword.HELP),
}
_TRIM: Final = re.compile(r"^[\s\W_]+|[\s\W_]+$")
# "stop all", "opt-out", "opt out": the words of a keyword may come apart.
_JOINERS: Final = re.compile(r"[\s\-_.]+")


def classify(body: str, opt_out_type: str = "") -> Keyword | None:
    """The carrier keyword a message body is, or None for ordinary conversation.

    Args:
        body: the message text.
        opt_out_type: Twilio's `OptOutType` field (sent when Advanced Opt-Out is on); when
            present it wins, because the account may define its own keywords.
    """
    if opt_out_type.upper() in Keyword.__members__:
        return Keyword[opt_out_type.upper()]
    word = _JOINERS.sub("", _TRIM.sub("", body)).upper()
    return _KEYWORDS.get(word)
