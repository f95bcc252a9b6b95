"""Typed reads of Stripe payload fields; each mismatch is a `ValueError` naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_NOUNS = {str: "a string", int: "an integer", bool: "a boolean"}


def field_of(data: Mapping[str, Any], name: str, kind: type, where: str, *, optional: bool = False) -> Any:
    """One typed field of a payload; `bool` is not accepted where Stripe sends an integer."""
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{where}.{name} must be {'null or ' if optional else ''}{_NOUNS[kind]}")
    return value


def metadata_of(data: Mapping[str, Any], where: str) -> dict[str, str]:
    raw = data.get("metadata") or {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise ValueError(f"{where}.metadata must be an object of strings")
    return dict(raw)


def id_of(value: Any) -> str | None:
    """Stripe sends related objects as an id string, or expanded as an object with an id."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None
