"""A business's texting profile: its zone, its narrower sending window, its HELP answer.

Without a HELP text of its own or in `[sms] help_text`, HELP is left to the carrier's own
auto-reply (Twilio answers HELP on long codes), so the person never gets two answers.
"""

from __future__ import annotations

import dataclasses
import uuid

from messaging.config import SmsConfig
from messaging.quiet_hours import Window, narrowed
from storage.executor import Executor


@dataclasses.dataclass(frozen=True)
class Profile:
    timezone: str
    window: Window
    help_text: str | None


async def profile(db: Executor, business_id: uuid.UUID, config: SmsConfig) -> Profile:
    """The business's profile, each unset part from `[sms]`; its window never wider than the default."""
    row = await db.fetchrow(
        "SELECT b.name, p.timezone, p.quiet_hours, p.help_text FROM businesses b"
        " LEFT JOIN messaging_profiles p ON p.business_id = b.id WHERE b.id = $1", business_id)
    default = Window.parse(config.quiet_hours)
    if row is None:
        return Profile(config.business_timezone, default, None)
    own = Window.parse(row["quiet_hours"]) if row["quiet_hours"] else None
    help_text = row["help_text"] or (config.help_text.format(business=row["name"]) if config.help_text else None)
    return Profile(row["timezone"] or config.business_timezone, narrowed(default, own), help_text)


async def set_profile(db: Executor, business_id: uuid.UUID, *, timezone: str | None = None,
                      quiet_hours: str | None = None, help_text: str | None = None) -> None:
    if quiet_hours is not None:
        Window.parse(quiet_hours)
    await db.execute(
        "INSERT INTO messaging_profiles (business_id, timezone, quiet_hours, help_text) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (business_id) DO UPDATE SET timezone = excluded.timezone,"
        " quiet_hours = excluded.quiet_hours, help_text = excluded.help_text",
        business_id, timezone, quiet_hours, help_text)
