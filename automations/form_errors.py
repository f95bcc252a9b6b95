"""The forms' typed errors; the shell maps each to a status and code once."""

from __future__ import annotations


class TooManyForms(Exception):
    """The agent already has as many live forms as it may (422 naming `forms`)."""


class FormNameTaken(Exception):
    """Another live form of the agent has this name, or one reading the same as a tool name (409)."""
