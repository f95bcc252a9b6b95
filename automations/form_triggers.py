"""Which form a visitor's message asks for, by the forms' keywords: whole words, any case, no model call.

The original service matched by substring, so "form" fired on "information". A keyword here
matches only between word boundaries (Unicode-aware: letters, digits and underscores on either
side end the match), its inner spaces match any run of whitespace, and the first form in the
agent's order with a matching keyword wins.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from automations.form_model import Form


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """A keyword as a whole-word, case-insensitive pattern."""
    words = [re.escape(w) for w in keyword.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def triggered(forms: Sequence[Form], text: str) -> Form | None:
    """The first active form one of whose keywords the text holds as whole words, or None."""
    for form in forms:
        if form.is_active and any(k.strip() and keyword_pattern(k).search(text) for k in form.trigger_keywords):
            return form
    return None
