"""Request and response shapes of the form routes (the create body is the domain's `FormSpec`)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from agent_server.api.shapes import Instant, Query, Uuid
from automations.form_model import Fields, FormField, Keywords, Long, Name, Short, Url

SUBMIT_MAX_BYTES = 64 * 1024


class FormPatch(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """Only the fields sent change; `notificationEmail: null` and `webhookUrl: null` remove them."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    title: Short | msgspec.UnsetType = msgspec.UNSET
    description: Long | msgspec.UnsetType = msgspec.UNSET
    fields: Fields | msgspec.UnsetType = msgspec.UNSET
    trigger_keywords: Keywords | msgspec.UnsetType = msgspec.UNSET
    success_message: Long | msgspec.UnsetType = msgspec.UNSET
    terms_and_conditions: Long | msgspec.UnsetType = msgspec.UNSET
    require_terms_acceptance: bool | msgspec.UnsetType = msgspec.UNSET
    notification_email: Annotated[str, msgspec.Meta(max_length=254)] | None | msgspec.UnsetType = msgspec.UNSET
    email_subject: Short | msgspec.UnsetType = msgspec.UNSET
    webhook_url: Url | None | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class FormOut(msgspec.Struct, rename="camel", kw_only=True):
    """A form as the dashboard shows it; `webhookSecret` only in the answer that created its webhook endpoint."""

    id: Uuid
    agent_id: Uuid
    name: str
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
    webhook_endpoint_id: Uuid | None
    is_active: bool
    tool_name: Annotated[str, msgspec.Meta(description="the tool the model calls to submit it: form_<slug>")]
    created_at: Instant
    updated_at: Instant
    webhook_secret: str | msgspec.UnsetType = msgspec.UNSET


class FormList(msgspec.Struct):
    forms: list[FormOut]


class PublicForm(msgspec.Struct, rename="camel", kw_only=True):
    """What a visitor's widget gets of a form: no addresses, webhooks or keywords' owner settings."""

    id: Uuid
    name: str
    title: str
    description: str
    fields: list[FormField]
    trigger_keywords: list[str]
    success_message: str
    terms_and_conditions: str
    require_terms_acceptance: bool


class FormSubmit(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """A visitor's answers; snake_case keys (the dashboard's old body) are read the same."""

    form_id: Uuid
    submitted_data: dict[str, Any]
    conversation_id: Uuid | None = None
    visitor_id: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    terms_accepted: bool = False


class Submitted(msgspec.Struct, rename="camel", kw_only=True):
    success: bool
    submission_id: Uuid
    message: str
    webhooks_queued: int


class SubmissionOut(msgspec.Struct, rename="camel", kw_only=True):
    id: Uuid
    form_id: Uuid
    conversation_id: Uuid | None
    channel: str
    visitor_id: str | None
    data: dict[str, Any]
    terms_accepted: bool
    created_at: Instant


class SubmissionPage(msgspec.Struct, rename="camel", kw_only=True):
    submissions: list[SubmissionOut]
    next_cursor: str | None


class SubmissionQuery(Query):
    limit: Annotated[int, msgspec.Meta(ge=1, le=200, description="at most this many, newest first")] = 50
    cursor: Annotated[str, msgspec.Meta(max_length=200, description="`nextCursor` of the previous page")] | None = None
