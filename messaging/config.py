"""The `[sms]` config section: price per segment, carrier pace per number type, sending hours, the dispatcher."""

from __future__ import annotations

import dataclasses
import datetime

from config_fields import check, non_negative, positive
from messaging.quiet_hours import Window


def window(value: str) -> str:
    """A sending window `HH:MM-HH:MM`; a malformed one stops start-up."""
    Window.parse(value)
    return value


@dataclasses.dataclass(frozen=True)
class SmsConfig:
    # Debited per segment of each message Twilio accepts, in the billing currency's minor units.
    price_per_segment_minor: int = check(non_negative, 1)
    # Segments per second a sending number may carry (carriers' limits for US senders).
    long_code_mps: float = check(positive, 1.0)
    toll_free_mps: float = check(positive, 3.0)
    short_code_mps: float = check(positive, 100.0)
    # Marketing texts need the recipient's recorded consent (a contact's consent, or consent given
    # on import): single sends without it are refused, campaigns skip them. Off only where consent
    # is collected and kept outside this server (a CRM, paper forms), since then no contact here
    # carries it; opt-outs are honoured either way.
    require_marketing_consent: bool = True
    # Marketing texts only inside this window, in the recipient's zone; a business or campaign narrows it.
    quiet_hours: str = check(window, "08:00-21:00")
    # The zone of a business that set none.
    business_timezone: str = "America/New_York"
    # The answer to HELP for a business with none of its own ("{business}" is its name); empty: the carrier's.
    help_text: str = ""
    # Every process runs a dispatcher (off: this process only queues texts).
    dispatcher_in_process: bool = True
    # The dispatcher: rows claimed per transaction, how often an idle one looks, Twilio requests at once.
    claim_batch: int = check(positive, 50)
    poll_interval_seconds: float = check(positive, 0.25)
    max_in_flight: int = check(positive, 32)
    max_attempts: int = check(positive, 6)
    backoff_base_seconds: float = check(positive, 2.0)
    backoff_max_seconds: float = check(positive, 300.0)
    # A campaign pauses itself when more than this share of its last `campaign_failure_window` sends failed.
    campaign_failure_threshold: float = check(positive, 0.5)
    campaign_failure_window: int = check(positive, 20)
    # A text from a campaign's recipient to the number that texted them is a reply to that
    # campaign for this long after the campaign's text (messaging/campaign_replies.py).
    campaign_reply_window_hours: float = check(positive, 72.0)
    # A message still `sending` with no sid after this long (its process died mid-send) is looked up again.
    stale_send_seconds: float = check(positive, 120.0)
    # A text Twilio took but whose final status never came back is looked up (GET Messages/{sid})
    # this long after it was sent, then at twice that age each time, until `reconcile_give_up_hours`.
    reconcile_after_minutes: float = check(positive, 60.0)
    reconcile_give_up_hours: float = check(positive, 72.0)
    # Sent texts, their status history and campaigns' recipient snapshots are deleted this long
    # after they last changed (messaging/retention.py); the consent log and the ledger are kept.
    retention_days: int = check(positive, 400)

    def reply_window(self) -> datetime.timedelta:
        return datetime.timedelta(hours=self.campaign_reply_window_hours)

    def rates(self) -> dict[str, float]:
        """MPS per sender kind, as `messaging.pacing.mps_for` reads them."""
        return {"long_code": self.long_code_mps, "toll_free": self.toll_free_mps, "short_code": self.short_code_mps}
