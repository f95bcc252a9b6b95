"""A form compiled once: its JSON Schema (2020-12), the validator built from it, and its tool for the model.

The schema checks shapes (types, required keys, options, bounds, lengths, no unknown keys);
what a schema can't say well is checked after it, per field: an email by email-validator
(syntax only, no DNS), a phone by phonenumbers (read in the agent's region, returned as E.164),
a date as a real calendar date (`2026-02-30` is refused). Values come back normalised, errors
come back per field as `{field, code, message}` so a widget highlights them and the model reads
them. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import re
from collections.abc import Mapping
from typing import Any

import email_validator
import jsonschema
import msgspec
import phonenumbers

from automations.form_model import DEFAULT_MAX_LENGTH, TEXT_CAP, FormField

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Shape codes by the JSON Schema keyword that failed.
_CODES = {"required": "required", "type": "type", "enum": "not_an_option", "maxLength": "too_long",
          "minimum": "below_min", "maximum": "above_max", "additionalProperties": "unknown_field",
          "uniqueItems": "repeated", "const": "required"}


@dataclasses.dataclass(frozen=True, slots=True)
class FieldError:
    """One field's problem: `code` is stable (required, type, invalid_email, ...), `message` is for people."""

    field: str
    code: str
    message: str


@dataclasses.dataclass(frozen=True)
class CompiledForm:
    """A form's schema, validator and tool; `check` validates and normalises one submission."""

    fields: tuple[FormField, ...]
    schema: dict[str, Any]
    validator: jsonschema.Draft202012Validator
    tool: dict[str, Any]
    region: str

    def check(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
        """The submission normalised (emails, phones in E.164, dates), or the errors per field (first per field)."""
        # An empty value (null, "", []) is the same as a value left out: required fields say so.
        data = {k: v for k, v in data.items() if v is not None and v != "" and v != []}
        errors: dict[str, FieldError] = {}
        for error in sorted(self.validator.iter_errors(data), key=lambda e: [str(p) for p in e.path]):
            found = _shape_error(error)
            errors.setdefault(found.field, found)
        by_id = {f.id: f for f in self.fields}
        clean: dict[str, Any] = {}
        for key, value in data.items():
            field = by_id.get(key)
            if field is None or key in errors:
                continue
            normalised = _normalise(field, value, self.region)
            if isinstance(normalised, FieldError):
                errors[key] = normalised
            else:
                clean[key] = normalised
        ordered = [errors[f.id] for f in self.fields if f.id in errors]
        ordered += [e for k, e in errors.items() if k not in by_id]
        return clean, ordered


def _field_schema(field: FormField) -> dict[str, Any]:
    title = {"title": field.label}
    match field.type:
        case "text" | "textarea":
            return {**title, "type": "string",
                    "maxLength": field.max_length or DEFAULT_MAX_LENGTH[field.type]}
        case "email":
            return {**title, "type": "string", "format": "email", "maxLength": 254}
        case "phone":
            return {**title, "type": "string", "maxLength": 40,
                    "description": "a phone number; with a + and country code when not local"}
        case "date":
            return {**title, "type": "string", "format": "date", "description": "YYYY-MM-DD"}
        case "number":
            bounds = {k: v for k, v in (("minimum", field.min), ("maximum", field.max)) if v is not None}
            return {**title, "type": "number", **bounds}
        case "select" | "radio":
            return {**title, "type": "string", "enum": list(field.options)}
        case "checkbox" if field.options:
            return {**title, "type": "array", "items": {"type": "string", "enum": list(field.options)},
                    "uniqueItems": True}
        case _ if field.required:
            return {**title, "type": "boolean", "const": True, "description": "must be checked"}
        case _:
            return {**title, "type": "boolean"}


def compile_form(slug: str, description: str, fields: list[FormField], *, region: str = "US") -> CompiledForm:
    """Compile a form's fields into its schema, validator and `form_<slug>` tool.

    Compiling checks the schema against the 2020-12 meta-schema and builds the validator (about
    10 ms), so a form compiled once is kept, by its exact definition, for the next submission:
    an edit is a new definition, never a stale one. Treat the result as read-only.

    Args:
        slug: the form's slug (`automations.form_model.slug_of`).
        description: what the model is told the tool is for.
        fields: the form's checked fields.
        region: ISO 3166 alpha-2, to read phone numbers written without a country code.
    """
    return _compiled(slug, description, msgspec.json.encode(fields), region.upper() if len(region) == 2 else "US")


@functools.lru_cache(maxsize=512)
def _compiled(slug: str, description: str, fields_json: bytes, region: str) -> CompiledForm:
    fields = msgspec.json.decode(fields_json, type=list[FormField])
    properties = {f.id: _field_schema(f) for f in fields}
    required = [f.id for f in fields if f.required]
    schema = {"$schema": DIALECT, "type": "object", "properties": properties, "required": required,
              "additionalProperties": False}
    jsonschema.Draft202012Validator.check_schema(schema)
    parameters = {k: v for k, v in schema.items() if k != "$schema"}
    tool = {"type": "function", "function": {
        "name": f"form_{slug}", "description": (description or f"Fill in the {slug} form")[:1024],
        "parameters": parameters}}
    return CompiledForm(tuple(fields), schema, jsonschema.Draft202012Validator(schema), tool, region)


def region_of(language: str) -> str:
    """The phone region an agent's language tag suggests (`en-GB` -> GB); US when it names none."""
    _, _, region = language.partition("-")
    return region.upper() if len(region) == 2 and region.isalpha() else "US"


def _shape_error(error: jsonschema.ValidationError) -> FieldError:
    code = _CODES.get(str(error.validator), "invalid")
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        field = missing[0] if missing else ""
        return FieldError(field, "required", "is required")
    if error.validator == "additionalProperties":
        unknown = re.findall(r"'([^']+)'", error.message)
        field = unknown[0] if unknown else ""
        return FieldError(field, "unknown_field", "is not a field of this form")
    field = str(error.path[0]) if error.path else ""
    messages = {"type": f"must be {_kind(error.validator_value)}", "not_an_option": "is not one of the options",
                "too_long": f"is longer than {error.validator_value} characters",
                "below_min": f"must be at least {error.validator_value}",
                "above_max": f"must be at most {error.validator_value}", "repeated": "repeats a choice",
                "required": "must be checked"}
    return FieldError(field, code, messages.get(code, error.message[:200]))


def _kind(schema_type: object) -> str:
    return {"string": "text", "number": "a number", "boolean": "true or false",
            "array": "a list of options"}.get(str(schema_type), str(schema_type))


def _normalise(field: FormField, value: Any, region: str) -> Any:
    """A value that passed the schema, made canonical, or the field's error."""
    if field.type == "email":
        try:
            return email_validator.validate_email(value, check_deliverability=False).normalized
        except email_validator.EmailNotValidError as exc:
            return FieldError(field.id, "invalid_email", str(exc)[:200])
    if field.type == "phone":
        return _phone(field, value, region)
    if field.type == "date":
        try:
            if not _ISO_DATE.match(value):
                raise ValueError("not YYYY-MM-DD")
            return datetime.date.fromisoformat(value).isoformat()
        except ValueError:
            return FieldError(field.id, "invalid_date", "must be a real date as YYYY-MM-DD")
    if field.type in ("text", "textarea"):
        return value.strip()[:TEXT_CAP]
    return value


def _phone(field: FormField, value: str, region: str) -> str | FieldError:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        return FieldError(field.id, "invalid_phone", "is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
