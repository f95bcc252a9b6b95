"""Shapes every route shares: the error envelope, the request-body base and common field types.

Request bodies are msgspec Structs with camelCase wire names. Unknown fields are ignored, as
the hand-written parsers before them did. Strings are stripped after decoding and an empty
one counts as missing, so an optional field sent as "" takes its default and a required one
is a 422 naming it: the rules `validation.get_str` applied field by field. In a PATCH body a
field left out is UNSET and "" means null; where null is not allowed (a campaign's name may
change but not be cleared), "" is a 422 too, never a NULL for the database to refuse.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
import msgspec.inspect

from agent_server.errors import ValidationError

E164_PATTERN = r"^\+[1-9]\d{1,14}$"
# An optional E.164 field may also be sent empty (a cleared form field), meaning "none".
OPTIONAL_E164_PATTERN = r"^(\+[1-9]\d{1,14})?$"

Uuid = Annotated[str, msgspec.Meta(extra_json_schema={"format": "uuid"})]
Instant = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"},
                                      description="ISO 8601 date-time with offset")]


class ErrorDetail(msgspec.Struct, kw_only=True):
    """What went wrong: a stable machine code, a message for people, and the field when one is to blame."""

    code: str
    message: str
    field: str | msgspec.UnsetType = msgspec.UNSET


class ErrorEnvelope(msgspec.Struct, kw_only=True):
    """Every error response: `{"error": {"code": ..., "message": ...}}` (more keys may follow)."""

    error: ErrorDetail


class Body(msgspec.Struct, rename="camel", kw_only=True):
    """Base of every JSON request body: strips strings, and an empty one counts as missing."""

    def __post_init__(self) -> None:
        for field in msgspec.structs.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, str):
                continue
            value = value.strip()
            if value:
                setattr(self, field.name, value)
            elif field.required:
                raise ValidationError(field.encode_name, "is required")
            elif field.default is not msgspec.UNSET:
                setattr(self, field.name, field.default)
            elif _admits_none(field.type):
                # A field that tells "absent" from "null" (UNSET default) reads "" as null.
                setattr(self, field.name, None)
            else:
                raise ValidationError(field.encode_name, "must not be empty")


def _admits_none(field_type: object) -> bool:
    def walk(info: msgspec.inspect.Type) -> bool:
        if isinstance(info, msgspec.inspect.UnionType):
            return any(walk(t) for t in info.types)
        return isinstance(info, msgspec.inspect.NoneType)
    return walk(msgspec.inspect.type_info(field_type))


def as_uuid(value: str, name: str) -> uuid.UUID:
    """A UUID field declared as a string (so "" can mean none), parsed.

    Raises:
        ValidationError: 422 naming the field.
    """
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationError(name, "must be a UUID") from None


def as_optional_uuid(value: str | None, name: str) -> uuid.UUID | None:
    return None if value is None else as_uuid(value, name)


class Query(msgspec.Struct, rename="camel", kw_only=True):
    """Base of every query-string shape (values arrive as strings and are converted, not strictly typed)."""

