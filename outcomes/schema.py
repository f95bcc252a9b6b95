"""What the analysis of a conversation returns, declared once as msgspec Structs.

The same Structs give the JSON schema sent as `response_format` (strict: every property
required, nothing extra, absent values as null) and the local validation of the answer,
which runs even when the server claims to honour the schema: some OpenAI-compatible servers
ignore `response_format` and answer prose. An agent's custom fields (parameter extraction)
become one more Struct, built from the agent's definitions and cached per definition.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec

MAX_CUSTOM_FIELDS = 20
MAX_SUMMARY_SENTENCES = 3
FieldType = Literal["text", "number", "boolean", "enum"]
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
# Struct field names the custom-fields object would shadow.
_RESERVED = frozenset({"fields"})

Text = Annotated[str, msgspec.Meta(max_length=500)]
Sentiment = Literal["positive", "neutral", "negative"]
Outcome = Literal["resolved", "needs_followup", "handoff", "spam"]


class Lead(msgspec.Struct, forbid_unknown_fields=True):
    """Who the person said they are and how to reach them; null for anything they did not say."""

    name: Text | None
    phone: Annotated[str | None, msgspec.Meta(description="as the person gave it, digits and + only")]
    email: Text | None
    company: Text | None
    intent: Text | None
    confidence: Annotated[int, msgspec.Meta(ge=0, le=100, description="0-100: how sure this is a real lead")]
    reason: Text | None


def sentence_count(text: str) -> int:
    """Sentences in `text`: runs of . ! ? before a space or the end (a trailing fragment counts as one)."""
    stripped = text.strip()
    if not stripped:
        return 0
    ends = len(_SENTENCE_END.findall(stripped))
    return ends + (0 if stripped[-1] in ".!?" else 1)


@dataclasses.dataclass(frozen=True)
class CustomField:
    """One value an agent's analysis extracts (`values` only for enums)."""

    name: str
    type: FieldType
    description: str
    values: tuple[str, ...] = ()


def parse_custom_fields(raw: Any) -> tuple[CustomField, ...]:
    """An agent's `extraction_fields` column as definitions.

    Raises:
        ValueError: naming the definition that is malformed (more than 20, a bad name or type).
    """
    if not isinstance(raw, list):
        raise ValueError("custom fields must be a list")
    if len(raw) > MAX_CUSTOM_FIELDS:
        raise ValueError(f"at most {MAX_CUSTOM_FIELDS} custom fields")
    fields: list[CustomField] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValueError(f"custom field {i} must be an object")
        name, kind = item.get("name"), item.get("type")
        if not isinstance(name, str) or not _FIELD_NAME.match(name) or name in _RESERVED:
            raise ValueError(f"custom field {i}: name must match {_FIELD_NAME.pattern}")
        if kind not in ("text", "number", "boolean", "enum"):
            raise ValueError(f"custom field {name}: type must be text, number, boolean or enum")
        values = item.get("values") or []
        if kind == "enum" and not (isinstance(values, list) and values and all(isinstance(v, str) for v in values)):
            raise ValueError(f"custom field {name}: an enum needs a non-empty list of string values")
        fields.append(CustomField(name, kind, str(item.get("description") or ""),
                                  tuple(values) if kind == "enum" else ()))
    if len({f.name for f in fields}) != len(fields):
        raise ValueError("custom field names must be unique")
    return tuple(fields)


def _field_type(field: CustomField) -> Any:
    base: Any = {"text": Text, "number": float, "boolean": bool}.get(field.type)
    if field.type == "enum":
        base = Literal[field.values]
    return Annotated[base | None, msgspec.Meta(description=field.description or field.name)]


@functools.lru_cache(maxsize=256)
def analysis_type(fields: tuple[CustomField, ...] = ()) -> type[msgspec.Struct]:
    """The Struct an analysis with these custom fields decodes into."""
    custom = msgspec.defstruct("CustomFields", [(f.name, _field_type(f)) for f in fields],
                               forbid_unknown_fields=True)

    def check(self: Any) -> None:
        if sentence_count(self.summary) > MAX_SUMMARY_SENTENCES:
            raise ValueError(f"summary must be at most {MAX_SUMMARY_SENTENCES} sentences")

    return msgspec.defstruct(
        "Analysis",
        [("summary", Annotated[str, msgspec.Meta(min_length=1, max_length=1000,
                                                 description="at most three sentences")]),
         ("sentiment", Sentiment), ("outcome", Outcome),
         ("topics", Annotated[list[Annotated[str, msgspec.Meta(max_length=60)]], msgspec.Meta(max_length=10)]),
         ("lead", Lead), ("fields", custom)],
        forbid_unknown_fields=True, namespace={"__post_init__": check})


@functools.lru_cache(maxsize=256)
def response_format(fields: tuple[CustomField, ...] = ()) -> dict[str, Any]:
    """The `response_format` of the analysis request: a strict json_schema, its root an object."""
    generated = msgspec.json.schema(analysis_type(fields))
    definitions = dict(generated["$defs"])
    root = definitions.pop(generated["$ref"].rsplit("/", 1)[-1])
    schema = {**root, "$defs": definitions}
    return {"type": "json_schema", "json_schema": {"name": "conversation_analysis", "strict": True, "schema": schema}}


def decode_analysis(raw: str, fields: Sequence[CustomField] = ()) -> msgspec.Struct:
    """The model's answer checked against the schema (and the three-sentence summary).

    Raises:
        msgspec.ValidationError: the answer is not JSON of that shape (prose, a missing field, ...).
    """
    try:
        return msgspec.json.decode(raw.strip().encode(), type=analysis_type(tuple(fields)))
    except msgspec.DecodeError as exc:
        if isinstance(exc, msgspec.ValidationError):
            raise
        raise msgspec.ValidationError(f"not JSON: {exc}") from None
