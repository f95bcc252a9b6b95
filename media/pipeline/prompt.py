"""What the LLM sees on a call: the agent's profile, the system prompt built from it, and the call tools."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from media.llm.base import Message, Tool
from media.llm.faq import FaqEntry

END_CALL: Final = "end_call"
TRANSFER_CALL: Final = "transfer_call"

CALL_TOOLS: Final[tuple[Tool, ...]] = (
    {"type": "function", "function": {
        "name": END_CALL,
        "description": "End the phone call once the caller is done or asks to hang up. "
                       "Say your goodbye in the same reply.",
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
    }},
    {"type": "function", "function": {
        "name": TRANSFER_CALL,
        "description": "Transfer the caller to a human colleague when they ask for a person "
                       "or you cannot help.",
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
    }},
)

_PHONE_STYLE: Final = (
    "You are speaking on the phone. Answer in one to three short spoken sentences, "
    "without lists, markdown or emojis. Key presses arrive as text in parentheses. "
    "Never read out web addresses (URLs), not even those in the reference material, "
    "unless the caller asks for one. Before you send a form, read its values back to the caller "
    "and send it only once they confirm."
)


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """The parts of an agent a call needs, in media's own types.

    Attributes:
        system_prompt: the business's instructions.
        greeting: spoken as soon as the stream starts ('' = wait for the caller).
        voice: TTS voice (None = the provider's default).
        language: BCP-47 tag for STT.
        model: LLM model name.
        temperature: sampling temperature.
        faq: answers given in advance.
        transfer_number: E.164 number ``transfer_call`` dials (None = no transfers).
    """

    system_prompt: str
    greeting: str
    voice: str | None
    language: str
    model: str
    temperature: float
    faq: tuple[FaqEntry, ...] = ()
    transfer_number: str | None = None


def system_message(profile: AgentProfile) -> Message:
    """The system prompt: the business's instructions, the phone style rules and the FAQ.

    Nothing per call or turn goes here (the caller, the time, knowledge: that rides in the last
    user turn), so with `CALL_TOOLS` in their fixed order every call of an agent version starts
    with the same bytes, which a provider's prompt cache serves.
    """
    parts = [profile.system_prompt.strip() or "You are a helpful receptionist.", _PHONE_STYLE]
    if profile.faq:
        parts.append("Known answers:\n" + "\n".join(f"Q: {e.question}\nA: {e.answer}" for e in profile.faq))
    if not profile.transfer_number:
        parts.append("Transfers to a person are not available on this line.")
    return {"role": "system", "content": "\n\n".join(parts)}


def conversation(profile: AgentProfile, history: Sequence[Message]) -> list[Message]:
    """The messages for one LLM request: system prompt first, then the call so far."""
    return [system_message(profile), *history]
