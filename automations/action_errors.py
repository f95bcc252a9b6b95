"""The actions' typed errors; the shell maps each to a status and code once."""

from __future__ import annotations


class TooManyActions(Exception):
    """The agent already has as many live actions as it may (422 naming `actions`)."""


class ActionNameTaken(Exception):
    """Another live action of the agent has this name, in any case (409)."""
