"""The `[actions]` section: how long a call waits on the tools the agent calls."""

from __future__ import annotations

import dataclasses

from config_fields import check, non_negative, positive


@dataclasses.dataclass(frozen=True)
class ActionsConfig:
    # A call's filler is said once the caller's turn has been silent this long with a tool still running.
    voice_filler_after_ms: int = check(non_negative, 500)
    # A call waits this long at most for a tool's result (an action's own timeoutMs is capped at it).
    voice_timeout_ms: int = check(positive, 5000)
