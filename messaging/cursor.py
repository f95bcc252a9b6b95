"""Opaque page cursors: the last row's (created_at, id), so pages stay stable while rows are added."""

from __future__ import annotations

import base64
import datetime
import uuid


class BadCursor(ValueError):
    """A cursor this server did not hand out."""


def encode(created_at: datetime.datetime, row_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime.datetime, uuid.UUID]:
    """Raises BadCursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, row_id = raw.partition("|")
        parsed = datetime.datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, uuid.UUID(row_id)
    except ValueError:
        raise BadCursor(f"not a cursor from this server: {cursor!r}") from None
