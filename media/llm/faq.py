"""Answering a question from an agent's FAQ by word overlap, without any model.

Used by the local LLM stand-in and by the widget to answer common questions for free. The
score is the Dice coefficient over content words (stop words dropped, crude suffix
stemming so "opening" meets "open"); below the threshold there is no answer, because a
wrong confident answer is worse than handing over to the model or a fallback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

DEFAULT_THRESHOLD: Final = 0.5

_WORD: Final = re.compile(r"[a-z0-9]+")
_STOP_WORDS: Final = frozenset(
    """a an the is are am was were be been do does did you your yours i me my we our us it its
    to of for in on at by with from and or can could would should will shall may might please
    what when where which who whom why how there this that these those have has had any some
    tell know about get much many""".split()
)
_SUFFIXES: Final = ("ing", "ed", "es", "s")


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One question the business has answered in advance."""

    question: str
    answer: str


def content_words(text: str) -> frozenset[str]:
    """Lower-cased, stop-word-free, roughly stemmed words of ``text``."""
    return frozenset(_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP_WORDS)


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def faq_score(question: str, entry_question: str) -> float:
    """Dice overlap in [0, 1] between two questions' content words."""
    a, b = content_words(question), content_words(entry_question)
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def match_faq(question: str, faq_entries: Sequence[FaqEntry], threshold: float = DEFAULT_THRESHOLD) -> str | None:
    """Return the answer of the best-matching FAQ entry, or None when none is close enough.

    Args:
        question: what the caller or visitor asked.
        faq_entries: the agent's FAQ.
        threshold: minimum score in (0, 1]; ties go to the earlier entry.

    Returns:
        The matched entry's answer, or None.
    """
    best: FaqEntry | None = None
    best_score = 0.0
    for entry in faq_entries:
        score = faq_score(question, entry.question)
        if score > best_score:
            best, best_score = entry, score
    if best is None or best_score < threshold:
        return None
    return best.answer
