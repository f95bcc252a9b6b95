"""Campaign templates: `{{firstName}}`, `{{attributes.city|there}}`, checked before anything is sent.

A template names contact fields in double braces, each with an optional fallback after `|`
used when the contact has no value. An unknown name is an error naming it when the campaign
is written, so a typo never reaches a customer as a blank or a literal `{{...}}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

FIELDS: Final = frozenset({"firstName", "lastName", "email", "phone"})
ATTRIBUTE_PREFIX: Final = "attributes."
_PLACEHOLDER: Final = re.compile(r"\{\{\s*([^{}|]*?)\s*(?:\|([^{}]*))?\}\}")


class UnknownVariable(ValueError):
    """A placeholder names no contact field; `name` is what it named."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown template variable {{{{{name}}}}}; known: "
                         f"{', '.join(sorted(FIELDS))} and attributes.<key>")
        self.name = name


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str
    fallback: str


def _known(name: str) -> bool:
    return name in FIELDS or (name.startswith(ATTRIBUTE_PREFIX) and len(name) > len(ATTRIBUTE_PREFIX))


def placeholders(template: str) -> list[Placeholder]:
    """Every placeholder of `template`, in order.

    Raises:
        UnknownVariable: the first placeholder naming no contact field.
    """
    found = []
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        if not _known(name):
            raise UnknownVariable(name)
        found.append(Placeholder(name, (match.group(2) or "").strip()))
    return found


def _value(name: str, fields: Mapping[str, str | None], attributes: Mapping[str, Any]) -> str:
    if name.startswith(ATTRIBUTE_PREFIX):
        value = attributes.get(name[len(ATTRIBUTE_PREFIX):])
        return "" if value is None else str(value).strip()
    return (fields.get(name) or "").strip()


def render(template: str, fields: Mapping[str, str | None], attributes: Mapping[str, Any]) -> str:
    """`template` for one contact: each placeholder its value, else its fallback, else empty.

    Args:
        fields: the contact's `firstName`, `lastName`, `email`, `phone`.
        attributes: the contact's JSON attributes.

    Raises:
        UnknownVariable: a placeholder naming no contact field.
    """
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if not _known(name):
            raise UnknownVariable(name)
        return _value(name, fields, attributes) or (match.group(2) or "").strip()

    return _PLACEHOLDER.sub(substitute, template)
