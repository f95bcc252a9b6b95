"""An action's parameters: JSON Schema 2020-12 within a subset the model fills reliably, and the arguments checked.

The subset: one object of at most 20 properties, each a scalar (`string`, `number`, `integer`,
`boolean`) or an enum of scalars, with the usual bounds (lengths, format, minimum, maximum; no
`pattern`, see `_PROPERTY_KEYS`) and words for the model (`title`, `description`, `examples`, `default`); no `$ref`,
no nesting, no combinators. Unknown arguments are refused (`additionalProperties: false` is
added), so a model's misspelt argument is an error it can fix, not a silent drop. Arguments are
checked by `jsonschema` before anything runs, and the errors come back as data the model reads.
Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import jsonschema
import msgspec

from automations.action_model import ActionDefinitionError

DIALECT = "https://json-schema.org/draft/2020-12/schema"
MAX_PROPERTIES = 20
_SCALARS = ("string", "number", "integer", "boolean")
_TOP_KEYS = {"$schema", "type", "properties", "required", "additionalProperties", "title", "description"}
# No `pattern`: a business's regular expression would run on the event loop against the model's text, and one
# that backtracks (`(a+)+$`) would stall every conversation of the server, not just its own.
_PROPERTY_KEYS = {"type", "enum", "const", "title", "description", "examples", "default", "minLength", "maxLength",
                  "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
_MAX_STRING = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class ArgumentError:
    """One argument's problem, as the model and the execute route read it."""

    field: str
    code: str
    message: str


def checked_parameters(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as saved: within the subset, `additionalProperties: false`, valid 2020-12.

    Raises:
        ActionDefinitionError: naming `parameters` or the property to blame.
    """
    schema = dict(raw) or {"type": "object", "properties": {}}
    unknown = sorted(set(schema) - _TOP_KEYS)
    if unknown:
        raise ActionDefinitionError("parameters", f"{unknown[0]!r} is not allowed here (no $ref, no combinators)")
    if schema.get("type") != "object":
        raise ActionDefinitionError("parameters", "must be a JSON Schema of type object")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise ActionDefinitionError("parameters", "properties must be an object")
    if len(properties) > MAX_PROPERTIES:
        raise ActionDefinitionError("parameters", f"at most {MAX_PROPERTIES} properties")
    for name, prop in properties.items():
        _check_property(name, prop)
    required = schema.get("required", [])
    if not isinstance(required, list) or any(not isinstance(r, str) or r not in properties for r in required):
        raise ActionDefinitionError("parameters", "required must list properties that are declared")
    schema["additionalProperties"] = False
    schema.pop("$schema", None)
    try:
        jsonschema.Draft202012Validator.check_schema({"$schema": DIALECT, **schema})
    except jsonschema.SchemaError as exc:
        raise ActionDefinitionError("parameters", f"not valid JSON Schema 2020-12: {exc.message[:200]}") from None
    return schema


def _check_property(name: str, prop: Any) -> None:
    where = f"parameters.properties.{name}"
    if not name.isidentifier() or len(name) > 64:
        raise ActionDefinitionError(where, "a property's name is letters, digits and _ (64 at most)")
    if not isinstance(prop, dict):
        raise ActionDefinitionError(where, "must be an object")
    unknown = sorted(set(prop) - _PROPERTY_KEYS)
    if unknown:
        raise ActionDefinitionError(where, f"{unknown[0]!r} is not allowed (scalars and enums only, no $ref)")
    kind = prop.get("type")
    if kind is None and "enum" not in prop and "const" not in prop:
        raise ActionDefinitionError(where, "needs a type (string, number, integer, boolean) or an enum")
    if kind is not None and kind not in _SCALARS:
        raise ActionDefinitionError(where, f"type must be one of {', '.join(_SCALARS)}")
    enum = prop.get("enum")
    if enum is not None and (not isinstance(enum, list) or not enum
                             or any(isinstance(v, (dict, list)) for v in enum)):
        raise ActionDefinitionError(where, "enum must be a list of scalars")


def validator(parameters: Mapping[str, Any]) -> jsonschema.Draft202012Validator:
    """The validator of saved parameters (built once per definition)."""
    return _validator(msgspec.json.encode(parameters))


@functools.lru_cache(maxsize=512)
def _validator(encoded: bytes) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$schema": DIALECT, **msgspec.json.decode(encoded)},
                                           format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def decoded_arguments(raw: str | Mapping[str, Any]) -> dict[str, Any] | ArgumentError:
    """The model's arguments (a JSON text) or the route's (an object), as a dict, or why not."""
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value: Any = msgspec.json.decode(raw or "{}")
    except msgspec.DecodeError:
        return ArgumentError("", "invalid_json", "the arguments are not JSON")
    if not isinstance(value, dict):
        return ArgumentError("", "invalid_json", "the arguments must be a JSON object")
    return value


def check_arguments(parameters: Mapping[str, Any], arguments: Mapping[str, Any]) -> list[ArgumentError]:
    """Every problem of the arguments against the parameters (first per argument), in a stable order."""
    found: dict[str, ArgumentError] = {}
    for error in sorted(validator(parameters).iter_errors(dict(arguments)), key=lambda e: [str(p) for p in e.path]):
        field = str(error.path[0]) if error.path else ""
        code = str(error.validator)
        if code == "required":
            field = error.message.split("'")[1] if "'" in error.message else ""
        elif code == "additionalProperties":
            field = error.message.split("'")[1] if "'" in error.message else ""
            found.setdefault(field, ArgumentError(field, "unknown_argument", "is not a parameter of this tool"))
            continue
        found.setdefault(field, ArgumentError(field, code, error.message[:300]))
    for name, value in arguments.items():
        if isinstance(value, str) and len(value) > _MAX_STRING and name not in found:
            found[name] = ArgumentError(name, "maxLength", f"is longer than {_MAX_STRING} characters")
    return list(found.values())
