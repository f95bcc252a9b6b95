"""An action's parameters: the JSON Schema subset saved, and arguments checked against it as data."""

from __future__ import annotations

import pytest

from automations.action_model import ActionDefinitionError
from automations.action_schema import check_arguments, checked_parameters, decoded_arguments

SCHEMA = {"type": "object", "properties": {
    "name": {"type": "string", "maxLength": 5}, "count": {"type": "integer", "minimum": 1},
    "when": {"type": "string", "format": "date"}, "size": {"enum": ["s", "l"]}}, "required": ["name"]}


def test_the_saved_parameters_refuse_unknown_arguments() -> None:
    saved = checked_parameters(SCHEMA)
    assert saved["additionalProperties"] is False and "$schema" not in saved


@pytest.mark.parametrize("schema, field", [
    ({"type": "array"}, "parameters"),
    ({"type": "object", "$defs": {}}, "parameters"),
    ({"type": "object", "allOf": []}, "parameters"),
    ({"type": "object", "properties": {"a": {"type": "array"}}}, "parameters.properties.a"),
    ({"type": "object", "properties": {"a": {"type": "string", "pattern": "(a+)+$"}}}, "parameters.properties.a"),
    ({"type": "object", "properties": {"a": {"enum": [{"x": 1}]}}}, "parameters.properties.a"),
    ({"type": "object", "properties": {"a b": {"type": "string"}}}, "parameters.properties.a b"),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]}, "parameters"),
    ({"type": "object", "properties": {"a": {"type": "integer", "minimum": "x"}}}, "parameters"),
])
def test_a_schema_outside_the_subset_is_refused_naming_where(schema: dict[str, object], field: str) -> None:
    with pytest.raises(ActionDefinitionError) as raised:
        checked_parameters(schema)
    assert raised.value.field == field


def test_arguments_are_checked_one_error_per_argument() -> None:
    saved = checked_parameters(SCHEMA)
    errors = check_arguments(saved, {"count": 0, "when": "2026-02-30", "size": "m", "extra": True})
    assert {(e.field, e.code) for e in errors} == {("name", "required"), ("count", "minimum"), ("when", "format"),
                                                   ("size", "enum"), ("extra", "unknown_argument")}
    assert check_arguments(saved, {"name": "Ada", "count": 2, "when": "2026-02-28", "size": "s"}) == []


def test_the_models_arguments_must_be_a_json_object() -> None:
    assert decoded_arguments('{"a": 1}') == {"a": 1}
    assert decoded_arguments("") == {}
    for bad in ("{", "[]", "3"):
        error = decoded_arguments(bad)
        assert not isinstance(error, dict) and error.code == "invalid_json"
