"""FAQ matching by word overlap."""

from __future__ import annotations

from media.llm.faq import FaqEntry, content_words, faq_score, match_faq

FAQ = [
    FaqEntry("What are your opening hours?", "We are open nine to five, Monday to Saturday."),
    FaqEntry("Do you take walk-ins?", "Yes, walk-ins are welcome when a chair is free."),
    FaqEntry("How much is a haircut?", "A haircut is thirty dollars."),
    FaqEntry("Where are you located?", "We are at 12 Main Street."),
]


def test_paraphrased_question_finds_the_answer() -> None:
    """Stop words and word endings do not matter: 'when are you open' meets 'opening hours'."""
    assert match_faq("When are you open?", FAQ) == FAQ[0].answer
    assert match_faq("what's the price of a haircut", FAQ) == FAQ[2].answer
    assert match_faq("WHERE ARE YOU LOCATED", FAQ) == FAQ[3].answer


def test_unrelated_question_has_no_answer() -> None:
    """Below the threshold there is no answer rather than a wrong one."""
    assert match_faq("Can I speak to the manager about a refund?", FAQ) is None
    assert match_faq("", FAQ) is None
    assert match_faq("opening hours", []) is None


def test_threshold_controls_strictness() -> None:
    """A partial overlap passes a loose threshold and fails a strict one."""
    assert match_faq("are you open late on sundays", FAQ, threshold=0.3) == FAQ[0].answer
    assert match_faq("are you open late on sundays", FAQ, threshold=0.9) is None


def test_scores_are_symmetric_and_bounded() -> None:
    """Dice overlap is 1 for the same content words and 0 for none."""
    assert faq_score("opening hours", "What are your opening hours?") == 1.0
    assert faq_score("haircut", "opening hours") == 0.0
    assert content_words("The Hours, opening!") == frozenset({"hour", "open"})
