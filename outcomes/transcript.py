"""A conversation's transcript for analysis: its messages in order, cut from the middle to a token budget.

The start says who the person is and what they came for, the end how it was left; the middle
is what goes when the transcript is too long, replaced by one line saying how much was cut.
"""

from __future__ import annotations

from collections.abc import Sequence

from conversations.conversation import Turn, estimate_tokens
from outcomes.records import Outcome
from storage.executor import Executor


async def turns_of(db: Executor, outcome: Outcome) -> list[Turn]:
    """The conversation's messages, oldest first (a call's spoken turns, tools left out)."""
    if outcome.channel == "widget":
        rows = await db.fetch("SELECT role, text FROM widget_messages WHERE conversation_id = $1"
                              " ORDER BY created_at, id", outcome.id)
        return [Turn(r["role"], r["text"]) for r in rows]
    if outcome.channel == "call":
        rows = await db.fetch("SELECT role, text FROM call_turns WHERE call_id = $1 AND role IN ('user', 'assistant')"
                              " ORDER BY seq", outcome.id)
        return [Turn(r["role"], r["text"]) for r in rows]
    rows = await db.fetch(
        "SELECT direction, body FROM sms_messages WHERE business_id = $1 AND status <> 'failed'"
        " AND ((from_number = $2 AND to_number = $3) OR (from_number = $3 AND to_number = $2))"
        " AND created_at BETWEEN $4 AND $5 ORDER BY created_at, id",
        outcome.business_id, outcome.contact_address, outcome.our_address, outcome.first_message_at,
        outcome.last_message_at)
    return [Turn("user" if r["direction"] == "inbound" else "assistant", r["body"]) for r in rows]


def _line(turn: Turn) -> str:
    return f"{'Customer' if turn.role == 'user' else 'Agent'}: {turn.text}"


def render(turns: Sequence[Turn], budget_tokens: int) -> str:
    """The transcript as `Customer:`/`Agent:` lines, within `budget_tokens` (estimated, 4 characters a token).

    Whole messages are kept from both ends, alternately, while they fit; a single message longer
    than what is left is cut in its middle. What was dropped is named on one line.
    """
    lines = [_line(t) for t in turns]
    if sum(estimate_tokens(line) + 1 for line in lines) <= budget_tokens:
        return "\n".join(lines)
    head: list[str] = []
    tail: list[str] = []
    left = budget_tokens - 20  # room for the line that says what was cut
    front, back = 0, len(lines) - 1
    while front <= back:
        take_front = len(head) <= len(tail)
        line = lines[front] if take_front else lines[back]
        cost = estimate_tokens(line) + 1
        if cost > left:
            if left > 50:
                keep = left * 4 // 2
                (head if take_front else tail).append(f"{line[:keep]} […] {line[-keep:]}")
                front, back = (front + 1, back) if take_front else (front, back - 1)
            break
        left -= cost
        if take_front:
            head.append(line)
            front += 1
        else:
            tail.append(line)
            back -= 1
    dropped = back - front + 1
    marker = [f"[… {dropped} messages from the middle left out …]"] if dropped > 0 else []
    return "\n".join([*head, *marker, *reversed(tail)])


def user_message_count(turns: Sequence[Turn]) -> int:
    return sum(1 for t in turns if t.role == "user" and t.text.strip())
