"""Which words interrupt the agent, and how keys reach the LLM."""

from __future__ import annotations

import pytest

from media.pipeline.turns import confirms_barge_in, join_turn


@pytest.mark.parametrize("text", ["uh-huh", "Yeah.", "okay okay", "Mm, right.", "", "hmm"])
def test_backchannels_and_noise_do_not_interrupt(text: str) -> None:
    assert not confirms_barge_in(text, 1)


@pytest.mark.parametrize("text", ["Wait,", "stop please", "yeah but what about Monday"])
def test_content_words_interrupt(text: str) -> None:
    assert confirms_barge_in(text, 1)


def test_minimum_words_is_configurable() -> None:
    assert not confirms_barge_in("wait", 2)
    assert confirms_barge_in("wait please", 2)


def test_keys_join_the_spoken_turn_as_text() -> None:
    assert join_turn(["My order is"], ["4", "2"]) == "My order is (The caller pressed the keys: 4 2)"
    assert join_turn([], ["1"]) == "(The caller pressed the keys: 1)"
    assert join_turn([" hello ", ""], []) == "hello"
