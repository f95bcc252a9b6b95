"""Each action type's `configuration`, declared as Structs and read in one place (pure; the URL and address checks that
need DNS or the database are in `action_checks`).

A webhook's `headers` are write-only: saved with the action, sent with each call, never
returned by the API and never logged. An edit whose configuration leaves `headers` out keeps
the saved ones (the dashboard never had them to send back); `"headers": {}` removes them.
"""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Any, Literal

import msgspec

from automations.action_model import ActionDefinitionError, ActionType

MAX_HEADERS = 20
MAX_RECIPIENTS = 10
# Headers the call sets itself (the signature, the body's type): a configured one may not replace them.
_OWN_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding", "connection",
                          "webhook-id", "webhook-timestamp", "webhook-signature"})
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Address = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
ClockRange = Annotated[list[Annotated[str, msgspec.Meta(max_length=5)]], msgspec.Meta(min_length=2, max_length=2)]


class HttpConfig(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """webhook_call and custom_tool: where the signed POST goes, with the business's own headers."""

    url: Url
    headers: dict[str, str] = {}


class EmailConfig(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """email_send: fixed recipients (the business's own addresses), `{{param}}` templates of the arguments."""

    to: Annotated[list[Address], msgspec.Meta(min_length=1, max_length=MAX_RECIPIENTS)]
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]


class CalendarConfig(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """calendar_booking: opening hours (in the business's timezone) and slots; bookings kept by the built-in `local`
    calendar, or by a `remote` one the server calls at `baseUrl` (`calendar_remote`)."""

    provider: Literal["local", "remote"] = "local"
    base_url: Url | None = None
    slot_minutes: Annotated[int, msgspec.Meta(ge=5, le=480)] = 30
    days_ahead: Annotated[int, msgspec.Meta(ge=1, le=365)] = 60
    hours: dict[str, Annotated[list[ClockRange], msgspec.Meta(max_length=4)]] = msgspec.field(
        default_factory=lambda: {day: [["09:00", "17:00"]] for day in DAYS[:5]})


def _read(raw: dict[str, Any], shape: type[Any]) -> Any:
    try:
        return msgspec.convert(raw, shape)
    except msgspec.ValidationError as exc:
        raise ActionDefinitionError("configuration", str(exc)[:300]) from None


def http_config(raw: dict[str, Any]) -> HttpConfig:
    """Raises: ActionDefinitionError naming `configuration` or `configuration.headers`."""
    config: HttpConfig = _read(raw, HttpConfig)
    if len(config.headers) > MAX_HEADERS:
        raise ActionDefinitionError("configuration.headers", f"at most {MAX_HEADERS} headers")
    for name, value in config.headers.items():
        if not _TOKEN.match(name) or name.lower() in _OWN_HEADERS:
            raise ActionDefinitionError("configuration.headers", f"{name[:100]!r} can't be set")
        if len(value) > 4000 or any(c in value for c in "\r\n\x00"):
            raise ActionDefinitionError("configuration.headers", f"the value of {name!r} must be one line")
    return config


def email_config(raw: dict[str, Any]) -> EmailConfig:
    """Raises: ActionDefinitionError naming `configuration`."""
    config: EmailConfig = _read(raw, EmailConfig)
    return config


def calendar_config(raw: dict[str, Any]) -> CalendarConfig:
    """Raises: ActionDefinitionError naming `configuration.hours` (a range not HH:MM to a later HH:MM) or
    `configuration.baseUrl` (missing for a remote calendar, given for a local one)."""
    config: CalendarConfig = _read(raw, CalendarConfig)
    if (config.provider == "remote") != (config.base_url is not None):
        raise ActionDefinitionError("configuration.baseUrl", "a remote calendar needs one, a local one takes none")
    for day, ranges in config.hours.items():
        if day not in DAYS:
            raise ActionDefinitionError("configuration.hours", f"{day!r} is not one of {', '.join(DAYS)}")
        for start, end in ranges:
            if not (_CLOCK.match(start) and _CLOCK.match(end)) or start >= end:
                raise ActionDefinitionError("configuration.hours", f"{day}: {start}-{end} is not HH:MM to a later"
                                                                   " HH:MM")
    return config


def opening_ranges(config: CalendarConfig, day: datetime.date) -> list[tuple[datetime.time, datetime.time | None]]:
    """The day's opening ranges as times (None: until midnight)."""
    found = []
    for start, end in config.hours.get(DAYS[day.weekday()], []):
        found.append((datetime.time.fromisoformat(start),
                      None if end == "24:00" else datetime.time.fromisoformat(end)))
    return found


def shown_configuration(kind: ActionType, configuration: dict[str, Any]) -> dict[str, Any]:
    """The configuration as the API shows it: headers' names only, their values never."""
    if kind not in ("webhook_call", "custom_tool"):
        return dict(configuration)
    shown = {k: v for k, v in configuration.items() if k != "headers"}
    shown["headerNames"] = sorted(configuration.get("headers", {}))
    return shown


def merged_configuration(kind: ActionType, saved: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """An edit's configuration: a webhook's saved headers kept when the edit leaves `headers` out."""
    sent = {k: v for k, v in sent.items() if k != "headerNames"}  # what a GET showed, sent back
    if kind in ("webhook_call", "custom_tool") and "headers" not in sent and "headers" in saved:
        return {**sent, "headers": saved["headers"]}
    return sent
