"""Pure rules about the caller's words: backchannels, barge-in confirmation, keypad text.

A listener's "uh-huh" while the agent talks is not a request to stop; a real interruption
carries content words. These rules decide that from transcript text alone, so they are
unit-tested directly and shared by every STT provider.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

BACKCHANNELS: Final = frozenset(
    """uh huh uh-huh mhm mm mmm hmm hm um uhm ah oh yeah yep yes yup ok okay right sure
    alright cool nice great true exactly""".split()
)
_WORD: Final = re.compile(r"[a-z0-9']+(?:-[a-z0-9']+)*")


def words(text: str) -> list[str]:
    """Lower-cased words of a transcript, punctuation dropped."""
    return _WORD.findall(text.lower())


def content_word_count(text: str) -> int:
    """How many words of ``text`` are not backchannels or filler."""
    return sum(1 for w in words(text) if w not in BACKCHANNELS)


def confirms_barge_in(text: str, min_words: int) -> bool:
    """True when what the caller said while the agent spoke is a real interruption.

    Args:
        text: interim or final transcript heard during the agent's reply.
        min_words: content words needed (``calls.barge_in_min_words``).
    """
    return content_word_count(text) >= min_words


def keypad_text(digits: Sequence[str]) -> str:
    """How keypad presses reach the LLM: as plain text inside the caller's turn."""
    return f"(The caller pressed the keys: {' '.join(digits)})" if digits else ""


def join_turn(parts: Sequence[str], digits: Sequence[str]) -> str:
    """The caller's whole turn: the final transcripts, then any keys pressed."""
    text = " ".join(p.strip() for p in parts if p.strip())
    keys = keypad_text(digits)
    return f"{text} {keys}".strip() if keys else text
