"""Email templates (Jinja2, in `mail/templates/`): a subject, a plain-text part and an HTML part per template.

`templates/NAME.subject`, `NAME.txt` and `NAME.html`. The HTML part autoescapes every value,
so a caller's `<script>` arrives as text; the subject and text parts are plain text and are
not escaped (nothing there is interpreted), the subject checked for line breaks instead. An
undefined value is an error, never an empty string in a customer's inbox.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import jinja2

from mail.message import check_header


@dataclasses.dataclass(frozen=True)
class Rendered:
    """An email's content; `template` names where it came from (None for content built by hand)."""

    subject: str
    text: str
    html: str | None = None
    template: str | None = None


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("mail", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def render(name: str, values: Mapping[str, Any]) -> Rendered:
    """Render template `name` with `values`.

    Raises:
        jinja2.TemplateNotFound: no such template.
        jinja2.UndefinedError: the template uses a value not given.
        ValueError: the rendered subject holds a line break.
    """
    env = _environment()
    subject = env.get_template(f"{name}.subject").render(values).strip()
    return Rendered(subject=check_header("subject", subject), text=env.get_template(f"{name}.txt").render(values),
                    html=env.get_template(f"{name}.html").render(values), template=name)
