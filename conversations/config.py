"""The `[messaging]` config section: SMS reply budget, thread length, and widget and SMS limits."""

from __future__ import annotations

import dataclasses

from config_fields import check, non_negative, positive


@dataclasses.dataclass(frozen=True)
class MessagingConfig:
    sms_reply_budget_seconds: float = check(positive, 12.0)
    sms_max_reply_chars: int = check(positive, 1600)
    thread_length: int = check(positive, 20)
    max_message_chars: int = check(positive, 2000)
    ip_messages_per_minute: float = check(positive, 30.0)
    ip_burst: int = check(positive, 10)
    conversation_messages_per_minute: float = check(positive, 12.0)
    conversation_burst: int = check(positive, 5)
    forwarded_for_hops: int = check(non_negative, 0)
    sms_sender_messages_per_minute: float = check(positive, 6.0)
    sms_sender_burst: int = check(positive, 5)
    sms_number_messages_per_minute: float = check(positive, 60.0)
    sms_number_burst: int = check(positive, 20)
    unavailable_text: str = "Sorry, we can't answer right now. Please try again later."
