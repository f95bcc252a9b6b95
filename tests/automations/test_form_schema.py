"""A form compiles to one JSON Schema; each field type takes its valid values (normalised) and names its errors."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from automations.form_model import FormDefinitionError, FormField, check_fields, slug_of
from automations.form_schema import compile_form, region_of

FIELDS = [
    FormField(id="name", label="Your name", type="text", required=True, max_length=20),
    FormField(id="notes", label="Notes", type="textarea"),
    FormField(id="email", label="Email", type="email", required=True),
    FormField(id="phone", label="Phone", type="phone"),
    FormField(id="guests", label="Guests", type="number", min=1, max=12),
    FormField(id="day", label="Day", type="date"),
    FormField(id="size", label="Size", type="select", options=["small", "large"]),
    FormField(id="flavour", label="Flavour", type="radio", options=["lemon", "chocolate"]),
    FormField(id="extras", label="Extras", type="checkbox", options=["candles", "card"]),
    FormField(id="newsletter", label="Newsletter", type="checkbox"),
    FormField(id="agree", label="I agree", type="checkbox", required=True),
]
FORM = compile_form("cake_order", "Order a cake", FIELDS)
BASE: dict[str, Any] = {"name": "Ann", "email": "ann@example.com", "agree": True}


def _check(**values: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    clean, errors = FORM.check({**BASE, **values})
    return clean, [(e.field, e.code) for e in errors]


def test_the_form_compiles_to_one_valid_2020_12_schema_and_an_openai_tool() -> None:
    jsonschema.Draft202012Validator.check_schema(FORM.schema)
    assert FORM.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert FORM.schema["additionalProperties"] is False
    assert FORM.schema["required"] == ["name", "email", "agree"]
    function = FORM.tool["function"]
    assert (FORM.tool["type"], function["name"]) == ("function", "form_cake_order")
    assert function["parameters"]["properties"] == FORM.schema["properties"]
    assert "$schema" not in function["parameters"]


@pytest.mark.parametrize(("values", "expected"), [
    ({"name": "  Ann  "}, {"name": "Ann"}),
    ({"notes": "x" * 5000}, {"notes": "x" * 5000}),
    ({"email": "Ann@Example.COM"}, {"email": "Ann@example.com"}),
    ({"phone": "(415) 555-2671"}, {"phone": "+14155552671"}),
    ({"phone": "+44 20 7946 0958"}, {"phone": "+442079460958"}),
    ({"guests": 12}, {"guests": 12}),
    ({"guests": 1.5}, {"guests": 1.5}),
    ({"day": "2028-02-29"}, {"day": "2028-02-29"}),
    ({"size": "large"}, {"size": "large"}),
    ({"flavour": "lemon"}, {"flavour": "lemon"}),
    ({"extras": ["card", "candles"]}, {"extras": ["card", "candles"]}),
    ({"newsletter": False}, {"newsletter": False}),
])
def test_each_field_type_takes_a_valid_value_normalised(values: dict[str, Any], expected: dict[str, Any]) -> None:
    clean, errors = _check(**values)
    assert errors == []
    assert {k: clean[k] for k in expected} == expected


@pytest.mark.parametrize(("values", "expected"), [
    ({"name": "x" * 21}, ("name", "too_long")),
    ({"name": 7}, ("name", "type")),
    ({"notes": "x" * 5001}, ("notes", "too_long")),
    ({"email": "not-an-address"}, ("email", "invalid_email")),
    ({"email": "ann@localhost"}, ("email", "invalid_email")),
    ({"phone": "12"}, ("phone", "invalid_phone")),
    ({"phone": "+1 555 000 0000"}, ("phone", "invalid_phone")),
    ({"guests": 0}, ("guests", "below_min")),
    ({"guests": 13}, ("guests", "above_max")),
    ({"guests": "3"}, ("guests", "type")),
    ({"guests": True}, ("guests", "type")),
    ({"day": "2026-02-30"}, ("day", "invalid_date")),
    ({"day": "30/01/2026"}, ("day", "invalid_date")),
    ({"day": "2026-01-01T10:00:00"}, ("day", "invalid_date")),
    ({"size": "medium"}, ("size", "not_an_option")),
    ({"flavour": "Lemon"}, ("flavour", "not_an_option")),
    ({"extras": ["cake"]}, ("extras", "not_an_option")),
    ({"extras": ["card", "card"]}, ("extras", "repeated")),
    ({"extras": "card"}, ("extras", "type")),
    ({"newsletter": "yes"}, ("newsletter", "type")),
    ({"agree": False}, ("agree", "required")),
    ({"colour": "red"}, ("colour", "unknown_field")),
])
def test_each_field_type_names_an_invalid_value(values: dict[str, Any], expected: tuple[str, str]) -> None:
    clean, errors = _check(**values)
    assert errors == [expected]
    assert expected[0] not in clean


def test_missing_and_empty_required_fields_are_each_named_in_the_forms_order() -> None:
    _, errors = FORM.check({"name": "", "email": None})
    assert [(e.field, e.code) for e in errors] == [("name", "required"), ("email", "required"), ("agree", "required")]
    assert all(e.message for e in errors)


def test_a_phone_without_country_code_is_read_in_the_agents_region() -> None:
    uk = compile_form("callback", "", [FormField(id="phone", label="Phone", type="phone")], region=region_of("en-GB"))
    assert uk.check({"phone": "020 7946 0958"}) == ({"phone": "+442079460958"}, [])
    assert region_of("fr") == "US"


@pytest.mark.parametrize(("fields", "complaint"), [
    ([], "at least one field"),
    ([FormField(id=f"f{i}", label="x", type="text") for i in range(31)], "at most 30"),
    ([FormField(id="a", label="x", type="text"), FormField(id="a", label="y", type="email")], "two fields"),
    ([FormField(id="a", label="x", type="select")], "needs options"),
    ([FormField(id="a", label="x", type="text", options=["b"])], "take options"),
    ([FormField(id="a", label="x", type="number", min=5, max=1)], "min is above max"),
    ([FormField(id="a", label="x", type="email", max_length=3)], "maxLength"),
])
def test_a_bad_field_list_is_refused_naming_fields(fields: list[FormField], complaint: str) -> None:
    with pytest.raises(FormDefinitionError) as caught:
        check_fields(fields)
    assert caught.value.field == "fields" and complaint in caught.value.message


def test_a_name_becomes_a_tool_slug() -> None:
    assert slug_of("Cake order!  (2026)") == "cake_order_2026"
    with pytest.raises(FormDefinitionError):
        slug_of("!!!")


def test_a_form_compiled_again_is_reused_and_an_edited_one_is_not_stale() -> None:
    fields = [FormField(id="size", label="Size", type="select", options=["small"])]
    assert compile_form("order", "", fields) is compile_form("order", "", list(fields))
    edited = compile_form("order", "", [FormField(id="size", label="Size", type="select", options=["small", "big"])])
    assert edited.check({"size": "big"}) == ({"size": "big"}, [])
    assert compile_form("order", "", fields).check({"size": "big"})[1][0].code == "not_an_option"
