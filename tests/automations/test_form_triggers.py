"""Keyword triggers: whole words in any case ("form" no longer fires on "information"), first form wins."""

from __future__ import annotations

import datetime
import uuid

import pytest

from automations.form_model import Form, FormField
from automations.form_triggers import triggered

_NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


def _form(name: str, keywords: list[str], *, active: bool = True) -> Form:
    return Form(id=uuid.uuid4(), business_id=uuid.uuid4(), agent_id=uuid.uuid4(), name=name, slug=name.lower(),
                title=name, description="", fields=[FormField(id="name", label="Name", type="text")],
                trigger_keywords=keywords, success_message="", terms_and_conditions="",
                require_terms_acceptance=False, notification_email=None, email_subject="", webhook_url=None,
                is_active=active, webhook_endpoint_id=None, created_at=_NOW, updated_at=_NOW)


QUOTE = _form("Quote", ["form", "get a quote"])


@pytest.mark.parametrize("text", ["Can I fill in a form?", "FORM please", "form", "I'd like to GET   A quote!",
                                  "(form)", "formulaire? no: form."])
def test_a_whole_word_keyword_in_any_case_fires(text: str) -> None:
    assert triggered([QUOTE], text) is QUOTE


@pytest.mark.parametrize("text", ["I need some information", "the forms are", "reformat it", "platform_form",
                                  "get a quotation", "forma", ""])
def test_a_keyword_inside_another_word_does_not_fire(text: str) -> None:
    assert triggered([QUOTE], text) is None


def test_the_first_active_form_with_a_match_wins() -> None:
    off = _form("Off", ["quote"], active=False)
    booking = _form("Booking", ["book", "quote"])
    assert triggered([off, booking, QUOTE], "a quote") is booking
    assert triggered([off], "a quote") is None
