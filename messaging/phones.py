"""Phone numbers as people type them, parsed with `phonenumbers` into E.164, the one stored form."""

from __future__ import annotations

import functools

import phonenumbers

from messaging.errors import InvalidPhone


def to_e164(raw: str, default_country: str = "US", *, field: str = "phone") -> str:
    """`raw` (`(415) 555-0100`, `+44 20 7946 0958`, `0041 ...`) as E.164.

    Raises:
        InvalidPhone: not a valid number for its country.
    """
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, default_country.upper() or None)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(field, raw) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(field, raw)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=4096)
def country_of(e164: str) -> str | None:
    """The ISO country of an E.164 number, or None when `phonenumbers` can't place it."""
    try:
        region: str | None = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
    return None if region in (None, "ZZ") else region


def area_code(e164: str) -> str | None:
    """The NANP area code of a +1 number (the first three digits after the 1), else None."""
    return e164[2:5] if e164.startswith("+1") and len(e164) == 12 else None
