"""What a usage entry paid for: its quantity in the unit its price is quoted in, recorded with the entry.

The entry's writer knows the quantity (the segments Twilio accepted, the tokens a reply
used) and passes a `UsageDetail` down to `billing.ledger.insert_entry`, which writes it in
the same statement as the entry and its counter-side; the ``usage_details`` row is
append-only like the entry. Statements read it back (`billing.statements`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Unit(enum.StrEnum):
    """A usage quantity's unit (the DB CHECK on ``usage_details.unit`` lists the same)."""

    SECONDS = "seconds"
    SEGMENTS = "segments"
    REPLIES = "replies"
    TOKENS = "tokens"
    NUMBERS = "numbers"
    MONTHS = "months"


@dataclass(frozen=True, slots=True)
class UsageDetail:
    """`quantity` of `unit` paid for by one usage entry."""

    quantity: int
    unit: Unit

    def __post_init__(self) -> None:
        if self.quantity < 0:
            raise ValueError("a usage quantity can't be negative")
