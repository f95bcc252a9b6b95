"""How many SMS segments a body costs: GSM-7 when every character has a septet, else UCS-2.

Carriers bill per segment, and Twilio counts them this way, so this is what the wallet is
debited and the pace is measured in. A single GSM-7 message holds 160 septets and a UCS-2
one 70 UTF-16 units; a longer body is split into parts with a 6-byte concatenation header,
leaving 153 and 67. An extension character (``€``, ``{``, ...) is an escape plus a septet,
and a surrogate pair is two units: neither may be cut between two parts, so the parts are
packed character by character rather than by dividing the total.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

MAX_BODY_CHARS: Final = 1600

# GSM 03.38 basic character set (the default alphabet) and its extension table.
_GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENSION: Final = frozenset("\f^{}\\[~]|€")


class Encoding(enum.StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


_SINGLE: Final = {Encoding.GSM7: 160, Encoding.UCS2: 70}
_PART: Final = {Encoding.GSM7: 153, Encoding.UCS2: 67}


class BodyTooLong(ValueError):
    """A body over `MAX_BODY_CHARS` characters (Twilio refuses it with 21617)."""


@dataclass(frozen=True, slots=True)
class Segments:
    """`count` parts in `encoding`; `units` is the septets (GSM-7) or UTF-16 units (UCS-2) used."""

    encoding: Encoding
    count: int
    units: int


def _width(char: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return 2 if char in _GSM_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def encoding_of(body: str) -> Encoding:
    """GSM-7 when every character is in the default alphabet or its extension, else UCS-2."""
    return Encoding.GSM7 if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in body) else Encoding.UCS2


def count_segments(body: str) -> Segments:
    """The segments `body` is sent as.

    Raises:
        BodyTooLong: more than 1,600 characters.
    """
    if len(body) > MAX_BODY_CHARS:
        raise BodyTooLong(f"a message body is at most {MAX_BODY_CHARS} characters, got {len(body)}")
    encoding = encoding_of(body)
    widths = [_width(c, encoding) for c in body]
    units = sum(widths)
    if units <= _SINGLE[encoding]:
        return Segments(encoding, 1, units)
    part, parts, used = _PART[encoding], 1, 0
    for width in widths:
        if used + width > part:
            parts, used = parts + 1, 0
        used += width
    return Segments(encoding, parts, units)
