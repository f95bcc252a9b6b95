"""What a form is: its fields and settings, declared once as msgspec Structs (the API, the store and the compiler share them).

Limits (20 forms per agent, 30 fields per form, field ids, options) are checked here, so a
bad definition is refused the same way whether it arrives by the API or by code.
"""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Annotated, Literal

import msgspec

from mail.message import check_address, check_header

MAX_FORMS_PER_AGENT = 20
MAX_FIELDS_PER_FORM = 30
MAX_OPTIONS = 50
# A field's text with no maxLength of its own: room for a long message, not for a document.
DEFAULT_MAX_LENGTH = {"text": 500, "textarea": 5000}
TEXT_CAP = 10_000

FieldType = Literal["text", "textarea", "email", "phone", "number", "date", "select", "radio", "checkbox"]
FIELD_TYPES: tuple[str, ...] = ("text", "textarea", "email", "phone", "number", "date", "select", "radio",
                                "checkbox")
FieldId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$",
                                      description="the key of this field's value in submittedData")]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Option = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Keyword = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]

_SLUG_JUNK = re.compile(r"[^a-z0-9]+")


class FormDefinitionError(ValueError):
    """A form's definition breaks a rule; `field` names the part to blame (422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class FormField(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """One field: `options` for select, radio (required) and checkbox (a list of choices; without: a yes/no)."""

    id: FieldId
    label: Label
    type: FieldType
    required: bool = False
    options: Annotated[list[Option], msgspec.Meta(max_length=MAX_OPTIONS)] = []
    min: float | None = None
    max: float | None = None
    max_length: Annotated[int, msgspec.Meta(ge=1, le=TEXT_CAP)] | None = None


def check_fields(fields: list[FormField]) -> None:
    """The rules a field list must follow beyond each field's own shape.

    Raises:
        FormDefinitionError: naming `fields` (too many, a duplicate id, options missing or misplaced, min > max).
    """
    if not fields:
        raise FormDefinitionError("fields", "a form needs at least one field")
    if len(fields) > MAX_FIELDS_PER_FORM:
        raise FormDefinitionError("fields", f"a form holds at most {MAX_FIELDS_PER_FORM} fields")
    seen: set[str] = set()
    for field in fields:
        where = f"fields[{field.id}]"
        if field.id in seen:
            raise FormDefinitionError("fields", f"two fields have the id {field.id!r}")
        seen.add(field.id)
        if field.type in ("select", "radio") and not field.options:
            raise FormDefinitionError("fields", f"{where}: a {field.type} needs options")
        if field.options and field.type not in ("select", "radio", "checkbox"):
            raise FormDefinitionError("fields", f"{where}: only select, radio and checkbox take options")
        if len(set(field.options)) != len(field.options):
            raise FormDefinitionError("fields", f"{where}: options repeat")
        if (field.min is not None or field.max is not None) and field.type != "number":
            raise FormDefinitionError("fields", f"{where}: only a number takes min and max")
        if field.min is not None and field.max is not None and field.min > field.max:
            raise FormDefinitionError("fields", f"{where}: min is above max")
        if field.max_length is not None and field.type not in ("text", "textarea"):
            raise FormDefinitionError("fields", f"{where}: only text and textarea take maxLength")


def slug_of(name: str) -> str:
    """The name as a tool-name suffix: lower-case letters, digits and underscores (`form_<slug>`).

    Raises:
        FormDefinitionError: the name holds no letter or digit.
    """
    slug = _SLUG_JUNK.sub("_", name.lower()).strip("_")[:58].strip("_")
    if not slug:
        raise FormDefinitionError("name", "needs at least one letter or digit")
    return slug


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Short = Annotated[str, msgspec.Meta(max_length=200)]
Long = Annotated[str, msgspec.Meta(max_length=20_000)]
Url = Annotated[str, msgspec.Meta(max_length=2000)]
Fields = Annotated[list[FormField], msgspec.Meta(description=f"at most {MAX_FIELDS_PER_FORM} (422 beyond)")]
Keywords = Annotated[list[Keyword], msgspec.Meta(max_length=20, description="whole words or phrases that open the"
                                                                          " form in the widget, any case")]


class FormSpec(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """Everything a business sets on a form (the create body; an edit changes some of it)."""

    name: Name
    title: Short = ""
    description: Long = ""
    fields: Fields
    trigger_keywords: Keywords = []
    success_message: Long = ""
    terms_and_conditions: Long = ""
    require_terms_acceptance: bool = False
    notification_email: Annotated[str, msgspec.Meta(max_length=254)] | None = None
    email_subject: Short = ""
    webhook_url: Url | None = None
    is_active: bool = True


def checked_spec(spec: FormSpec) -> FormSpec:
    """The spec with texts trimmed, the address normalised, and every rule beyond field shapes checked.

    Raises:
        FormDefinitionError: naming the field to blame.
    """
    check_fields(spec.fields)
    slug_of(spec.name)
    email = (spec.notification_email or "").strip() or None
    if email is not None:
        try:
            email = check_address(email)
        except ValueError as exc:
            raise FormDefinitionError("notificationEmail", str(exc)) from None
    try:
        check_header("emailSubject", spec.email_subject)
    except ValueError as exc:
        raise FormDefinitionError("emailSubject", str(exc)) from None
    if spec.require_terms_acceptance and not spec.terms_and_conditions.strip():
        raise FormDefinitionError("termsAndConditions", "is required when requireTermsAcceptance is true")
    keywords = list(dict.fromkeys(k.strip() for k in spec.trigger_keywords if k.strip()))
    return msgspec.structs.replace(
        spec, name=spec.name.strip(), title=spec.title.strip(), notification_email=email,
        email_subject=spec.email_subject.strip(), trigger_keywords=keywords,
        webhook_url=(spec.webhook_url or "").strip() or None)


class Form(msgspec.Struct, kw_only=True):
    """A stored form (live unless `deleted_at`)."""

    id: uuid.UUID
    business_id: uuid.UUID
    agent_id: uuid.UUID
    name: str
    slug: str
    title: str
    description: str
    fields: list[FormField]
    trigger_keywords: list[str]
    success_message: str
    terms_and_conditions: str
    require_terms_acceptance: bool
    notification_email: str | None
    email_subject: str
    webhook_url: str | None
    is_active: bool
    webhook_endpoint_id: uuid.UUID | None
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @property
    def tool_name(self) -> str:
        return f"form_{self.slug}"

    def spec(self) -> FormSpec:
        """What the business set, as a spec (the base an edit is applied to)."""
        return FormSpec(**{name: getattr(self, name) for name in FormSpec.__struct_fields__})
