"""Campaign templates: fields, attributes with fallbacks, and unknown variables named."""

from __future__ import annotations

import pytest

from messaging.templates import UnknownVariable, placeholders, render


def test_fields_and_attributes_are_filled() -> None:
    text = render("Hi {{firstName}}, see you in {{ attributes.city }}!", {"firstName": "Ana"}, {"city": "Oslo"})
    assert text == "Hi Ana, see you in Oslo!"


def test_a_missing_value_takes_the_fallback_else_nothing() -> None:
    assert render("Hi {{firstName|there}} in {{attributes.city|your town}}", {"firstName": ""}, {}) == \
        "Hi there in your town"
    assert render("Hi {{lastName}}.", {}, {}) == "Hi ."


def test_an_unknown_variable_is_an_error_naming_it() -> None:
    with pytest.raises(UnknownVariable) as raised:
        placeholders("Hello {{first_name}}")
    assert raised.value.name == "first_name"
    assert "first_name" in str(raised.value)
    with pytest.raises(UnknownVariable):
        render("{{attributes.}}", {}, {})


def test_placeholders_lists_names_and_fallbacks() -> None:
    found = placeholders("{{firstName|friend}} {{attributes.plan}} {{phone}}")
    assert [(p.name, p.fallback) for p in found] == [("firstName", "friend"), ("attributes.plan", ""), ("phone", "")]


def test_text_without_placeholders_is_left_alone() -> None:
    assert render("50% off {today}!", {}, {}) == "50% off {today}!"
