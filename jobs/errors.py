"""What a job handler raises to say more than "this attempt failed"."""

from __future__ import annotations


class PermanentFailure(Exception):
    """The job can never succeed (a rejected recipient, a missing row): mark it failed, don't retry."""
