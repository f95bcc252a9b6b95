"""Which analyses are leads: a real name and a phone or email the person actually gave.

The model's `lead` is a claim to check, not a fact: a name must not be a placeholder
("test", "user", "asdf"); a phone or email counts only when it appears in what the person
wrote or said (a model that fills in an address it saw nowhere is not believed). The caller
ID or WhatsApp number is only a hint: kept as the lead's phone with `from_channel_id` when the
person gave none, never enough on its own. Phones are stored in E.164, read in the business's
country when they have no country prefix.
"""

from __future__ import annotations

import dataclasses
import re

import phonenumbers

from mail.message import check_address

PLACEHOLDER_NAMES = frozenset({
    "test", "testing", "tester", "user", "username", "asdf", "asdfgh", "qwerty", "name", "my name", "unknown",
    "n/a", "na", "none", "null", "nil", "customer", "client", "caller", "visitor", "guest", "anonymous", "anon",
    "john doe", "jane doe", "foo", "bar", "foo bar", "abc", "xyz", "xxx", "test user", "sample", "demo", "admin",
    "someone", "me", "hello", "hi",
})
_DIGITS = re.compile(r"\D")
_SPACES = re.compile(r"\s+")
_NAME_CHARS = re.compile(r"^[^\W\d_](?:[^\W\d_]|[ .'\-])*$")
MAX_NAME_CHARS = 100


@dataclasses.dataclass(frozen=True)
class LeadClaim:
    """What the analysis said about the person (any part may be missing)."""

    name: str | None
    phone: str | None
    email: str | None


@dataclasses.dataclass(frozen=True)
class LeadDecision:
    """A checked lead: `accepted` with the values to store, or refused with the reason."""

    accepted: bool
    reason: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    from_channel_id: bool = False


def real_name(raw: str | None) -> str | None:
    """The name tidied, or None when it is no person's name (a placeholder, digits, one letter repeated)."""
    if raw is None:
        return None
    name = _SPACES.sub(" ", raw).strip()
    if not 2 <= len(name) <= MAX_NAME_CHARS or not _NAME_CHARS.match(name):
        return None
    folded = name.casefold()
    letters = folded.replace(" ", "")
    if folded in PLACEHOLDER_NAMES or all(w in PLACEHOLDER_NAMES for w in folded.split()) or len(set(letters)) < 2:
        return None
    return name


def e164(raw: str | None, region: str) -> str | None:
    """The phone number in E.164 (`+14155550123`), or None when it is not a valid number."""
    if not raw:
        return None
    number = raw[len("whatsapp:"):] if raw.startswith("whatsapp:") else raw
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _phone_given(phone: str, person_text: str, region: str) -> bool:
    """Whether the person wrote or said this number: its national digits appear in their digits."""
    national = str(phonenumbers.parse(phone, region).national_number)
    return national in _DIGITS.sub("", person_text)


def _email(raw: str | None, person_text: str) -> str | None:
    if not raw:
        return None
    try:
        address = check_address(raw.strip())
    except ValueError:
        return None
    return address if raw.strip().casefold() in person_text.casefold() else None


def decide(claim: LeadClaim, *, person_text: str, channel_id: str | None, region: str) -> LeadDecision:
    """Check the analysis's lead against what the person said.

    Args:
        claim: the lead as the model reported it.
        person_text: everything the person wrote or said in the conversation.
        channel_id: the caller ID or SMS/WhatsApp number the conversation came from, if any.
        region: the business's country, for numbers without a country prefix.
    """
    name = real_name(claim.name)
    if name is None:
        return LeadDecision(False, "no real name given" if not claim.name else f"not a real name: {claim.name!r}")
    email = _email(claim.email, person_text)
    phone = e164(claim.phone, region)
    if phone is not None and not _phone_given(phone, person_text, region):
        phone = None
    if email is None and phone is None:
        return LeadDecision(False, "no phone or email the person gave")
    from_channel = False
    if phone is None:
        hint = e164(channel_id, region)
        if hint is not None:
            phone, from_channel = hint, True
    return LeadDecision(True, "ok", name=name, phone=phone, email=email, from_channel_id=from_channel)
