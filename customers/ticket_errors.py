"""What can go wrong with a ticket; the shell maps each to a status and code once."""

from __future__ import annotations


class TicketNotFound(LookupError):
    """No such ticket in this business (another business's ticket is the same: not found)."""

    def __init__(self) -> None:
        super().__init__("ticket not found")


class TicketClosed(Exception):
    """A closed ticket takes no replies and no changes: the person opens a new one."""


class NotInBusiness(LookupError):
    """An agent or customer named for a ticket is not this business's (or does not exist)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what
