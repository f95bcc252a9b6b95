"""What a usage entry paid for and what it cost us: its quantity in the unit its price is quoted in, and
its provider cost, recorded with the entry.

The entry's writer knows the quantity (the segments Twilio accepted, the tokens a reply
used, a call's seconds) and prices it with `billing.provider_costs`, and passes a
`UsageDetail` down to `billing.ledger.insert_entry`, which writes it in the same statement
as the entry and its counter-side; the ``usage_details`` row is append-only like the entry.
Statements read the quantity back (`billing.statements`), the books report the cost
(`billing.accounts.period_report`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from billing.provider_costs import Cost


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
    """`quantity` of `unit` paid for by one usage entry, and what it cost the platform (None: unknown)."""

    quantity: int
    unit: Unit
    cost: Cost | None = None

    def __post_init__(self) -> None:
        if self.quantity < 0:
            raise ValueError("a usage quantity can't be negative")


def detail_columns(detail: UsageDetail | None) -> tuple[int | None, str | None, int | None, bool | None]:
    """The ``usage_details`` columns of an entry (quantity, unit, cost_micros, cost_estimated); all None without."""
    if detail is None:
        return None, None, None, None
    if detail.cost is None:
        return detail.quantity, detail.unit.value, None, None
    return detail.quantity, detail.unit.value, detail.cost.micros, detail.cost.estimated
