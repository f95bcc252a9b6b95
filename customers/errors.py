"""What the customers domain refuses, each mapped once to a status and code by the shell."""

from __future__ import annotations


class CustomerExists(Exception):
    """The business already has a customer with this address (409)."""


class CustomerNotFound(Exception):
    """No such customer in this business (404, the same for another business's customer)."""


class AgentNotFound(Exception):
    """An agent named for assignment is not one of this business's live agents (404)."""


class LinkExpired(Exception):
    """The sign-in link was used, revoked or is past its expiry (410 LINK_EXPIRED)."""


class LinkUnknown(Exception):
    """No sign-in link has this token (401)."""


class SessionInvalid(Exception):
    """A portal token that is forged, expired, logged out or whose customer is disabled (401)."""
