"""How every call behaves: barge-in thresholds, timeouts and the fixed texts the agent speaks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CallSettings:
    """Per-call behaviour (the ``[calls]`` config section in media's terms)."""

    barge_in_min_words: int = 1
    false_interruption_timeout: float = 1.0
    mark_every_frames: int = 10
    goodbye_text: str = "Thank you for calling. Goodbye!"
    transfer_text: str = "Please hold while I transfer you."
    apology_text: str = "Sorry, I had a problem there. Could you say that again?"
    cant_hear_text: str = "Sorry, I can't hear you any more. Please call us again."
    max_call_seconds: float = 1800.0
    media_timeout: float = 15.0
    goodbye_timeout: float = 15.0
    dtmf_timeout: float = 2.0
    llm_first_token_timeout: float = 4.0
    """Longest wait for the LLM's first token, and between tokens, before the apology is said."""
    tool_filler_text: str = "One moment, please."
    """Said while a tool runs, when the agent said nothing before calling it (an action's own filler wins)."""
    tool_filler_after: float = 0.5
    """Seconds of silence after the caller's turn, with a tool still running, before the filler is said."""
    tool_timeout: float = 5.0
    """Longest wait for a tool's result; then the model hears that it timed out and answers."""
