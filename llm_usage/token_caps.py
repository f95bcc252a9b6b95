"""The arithmetic of per-agent token caps: what a request needs, whether it fits, when a period resets.

Pure functions, no I/O. The database applies the same rule to the rows it locks (`token_reserve`,
migration 0112, so a reservation is one round trip); `fit` states it here, and a test holds the
two together (tests/llm_usage/test_token_call_blocks.py). A request needs its prompt (estimated
at three characters a token, deliberately more than the usual four so only an unusually dense
prompt can pass a limit) plus the output it may write (`max_tokens`). When less than that
remains, the output is cut to fit as long as at least `MIN_OUTPUT_TOKENS` of it would be left;
otherwise the request is refused.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Literal

Period = Literal["day", "month"]

PROMPT_CHARS_PER_TOKEN = 3
MIN_OUTPUT_TOKENS = 64
DEFAULT_DAILY_LIMIT = 100_000
DEFAULT_MONTHLY_LIMIT = 1_000_000
DEFAULT_MAX_OUTPUT_TOKENS = 1_000
MAX_OUTPUT_TOKENS = 4_000
MAX_FALLBACK_MODELS = 2


class TokenLimitReached(Exception):
    """The agent's tokens for `period` are spent: answer with the limit text, ask no model."""

    def __init__(self, period: Period, resets_at: datetime.datetime) -> None:
        word = "daily" if period == "day" else "monthly"
        super().__init__(f"the agent's {word} token limit is reached until {resets_at.isoformat()}")
        self.period = period
        self.resets_at = resets_at


@dataclass(frozen=True, slots=True)
class Fit:
    """A request that may go ahead: reserve `need` tokens and send `max_tokens`."""

    need: int
    max_tokens: int


def prompt_estimate(prompt_chars: int) -> int:
    """Tokens a prompt of `prompt_chars` characters is assumed to use (rounded up)."""
    return math.ceil(prompt_chars / PROMPT_CHARS_PER_TOKEN)


def remaining(limit: int | None, used: int, reserved: int) -> int | None:
    """Tokens still free in a period (None: the period has no limit); never negative."""
    return None if limit is None else max(0, limit - used - reserved)


def fit(prompt_tokens: int, max_tokens: int, day_left: int | None, month_left: int | None, *,
        min_output: int = MIN_OUTPUT_TOKENS) -> Fit | Period:
    """How much of the request fits in what both periods have left (its output cut to no less than
    `min_output`), or the period that refuses it.

    When both periods are short, the month is named: waiting for tomorrow would not help.
    """
    need = prompt_tokens + max_tokens
    lefts = [left for left in (day_left, month_left) if left is not None]
    room = min(lefts, default=None)
    if room is None or room >= need:
        return Fit(need, max_tokens)
    if room >= prompt_tokens + min_output:
        return Fit(room, room - prompt_tokens)
    short = prompt_tokens + min_output
    return "month" if month_left is not None and month_left < short else "day"


def period_start(period: Period, now: datetime.datetime) -> datetime.date:
    """The UTC day or month `now` falls in, as its first date."""
    today = now.astimezone(datetime.UTC).date()
    return today if period == "day" else today.replace(day=1)


def resets_at(period: Period, now: datetime.datetime) -> datetime.datetime:
    """When the period `now` falls in ends (UTC midnight of the next day or month)."""
    start = period_start(period, now)
    if period == "day":
        following = start + datetime.timedelta(days=1)
    else:
        following = (start.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return datetime.datetime.combine(following, datetime.time(), datetime.UTC)


# A call reserves its tokens in blocks of this many, so its turns never wait on the database.
CALL_BLOCK_TOKENS = 4_000
# A block with fewer tokens left than this is refilled; a call that can't reserve this many more is
# at the cap (turned away at the webhook, or said goodbye to mid-call).
CALL_MIN_TOKENS = 1_000
