"""Carrier keywords: STOP/START/HELP and their synonyms, exactly one word, any case."""

from __future__ import annotations

import pytest

from conversations.opt_out import Keyword, classify


@pytest.mark.parametrize("body", ["STOP", "stop", " Stop. ", "STOPALL", "unsubscribe", "Cancel", "END", "quit",
                                  "REVOKE", "optout", "stop!"])
def test_stop_synonyms_opt_out(body: str) -> None:
    assert classify(body) is Keyword.STOP


@pytest.mark.parametrize("body", ["stop all", "STOP ALL", "opt out", "Opt-Out", "opt out."])
def test_keywords_written_as_two_words_are_the_keyword(body: str) -> None:
    assert classify(body) is Keyword.STOP


@pytest.mark.parametrize("body", ["START", "yes", "Unstop"])
def test_start_synonyms_opt_back_in(body: str) -> None:
    assert classify(body) is Keyword.START


@pytest.mark.parametrize("body", ["HELP", "info?"])
def test_help_synonyms(body: str) -> None:
    assert classify(body) is Keyword.HELP


@pytest.mark.parametrize("body", ["please stop calling me", "yes please book me in", "", "stopp", "help me book",
                                  "stop all of it", "opt out now"])
def test_sentences_are_conversation_not_keywords(body: str) -> None:
    """Only a message that is the keyword alone is a command; anything longer goes to the agent."""
    assert classify(body) is None


def test_twilio_opt_out_type_wins() -> None:
    """With Advanced Opt-Out, the account's own keywords arrive as OptOutType."""
    assert classify("ARRET", "STOP") is Keyword.STOP
    assert classify("stop", "") is Keyword.STOP
