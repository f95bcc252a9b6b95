"""The `[limits]` config section: what a person is told when an agent's token cap is reached."""

from __future__ import annotations

import dataclasses

from llm_usage.token_caps import Period


@dataclasses.dataclass(frozen=True)
class LimitsConfig:
    daily_text: str = "Daily token limit reached. Please try again tomorrow."
    monthly_text: str = "Monthly token limit reached. Please upgrade your plan."

    def text(self, period: Period) -> str:
        """The refusal for a spent `period`."""
        return self.daily_text if period == "day" else self.monthly_text
