"""Per-ticket reply addresses: `t+<ticket>.<hmac>@{inbound_domain}`, so a requester's reply finds its ticket.

With `[customers] inbound_domain` set, a staff reply's `Reply-To` is such an address instead of
the business's support address: the requester's answer reaches this server's inbound SMTP
(`agent-server inbound-smtp`), which reads the ticket back from the address and appends the
answer (`customers.inbound_mail`). The MAC (80 bits, its own key) stops anyone from writing to
a ticket by guessing its id; it is lower-case hex, as some mail systems lower-case local parts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import uuid

_CONTEXT = b"ticket-reply-address:"
_LOCAL = re.compile(r"t\+([0-9a-f]{32})\.([0-9a-f]{20})")


def check_domain(value: str) -> str:
    """Raises: ValueError unless empty (inbound off) or a host name (letters, digits, dots and hyphens)."""
    if value and not re.fullmatch(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}"
                                  r"[a-z0-9])?", value.lower()):
        raise ValueError(f"not a domain name: {value!r}")
    return value.lower()


@dataclasses.dataclass(frozen=True)
class ReplyAddresses:
    """The inbound domain and the key reply addresses are signed with."""

    domain: str
    secret: bytes

    def _mac(self, ticket_id: uuid.UUID) -> str:
        return hmac.new(self.secret, _CONTEXT + ticket_id.bytes, hashlib.sha256).hexdigest()[:20]

    def for_ticket(self, ticket_id: uuid.UUID) -> str:
        return f"t+{ticket_id.hex}.{self._mac(ticket_id)}@{self.domain}"

    def ticket_of(self, address: str) -> uuid.UUID | None:
        """The ticket an address names, or None when it is not one this server signed (any case)."""
        local, _, domain = address.strip().strip("<>").lower().rpartition("@")
        found = _LOCAL.fullmatch(local)
        if found is None or domain != self.domain:
            return None
        ticket_id = uuid.UUID(found.group(1))
        return ticket_id if hmac.compare_digest(found.group(2), self._mac(ticket_id)) else None
