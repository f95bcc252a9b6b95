"""Quiet hours in the recipient's zone: contact, else the number's zones intersected, else the business's."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from messaging.quiet_hours import MAX_VALIDITY_SECONDS, Window, check, narrowed, recipient_zones, zones_of_number

DEFAULT = Window.parse("08:00-21:00")
UTC = datetime.UTC


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_zone_is_the_contacts_then_the_numbers_then_the_business() -> None:
    assert recipient_zones("Europe/Paris", "+12125550100", "UTC") == (ZoneInfo("Europe/Paris"),)
    assert recipient_zones(None, "+12125550100", "UTC") == (ZoneInfo("America/New_York"),)
    assert recipient_zones("Not/AZone", "+18085550100", "UTC") == (ZoneInfo("Pacific/Honolulu"),)
    assert recipient_zones(None, "+80012345678", "Europe/Berlin") == (ZoneInfo("Europe/Berlin"),)


def test_a_number_spanning_zones_gives_them_all() -> None:
    assert len(zones_of_number("+18005550100")) > 1


@pytest.mark.parametrize(("zone", "opens"), [("America/New_York", "2026-07-01T12:00:00"),
                                             ("America/Los_Angeles", "2026-07-01T15:00:00"),
                                             ("Pacific/Honolulu", "2026-07-01T18:00:00")])
def test_each_recipient_gets_it_at_its_own_eight_oclock(zone: str, opens: str) -> None:
    verdict = check(at("2026-07-01T11:00:00"), (ZoneInfo(zone),), DEFAULT)
    assert (verdict.open, verdict.opens_at) == (False, at(opens))


def test_validity_is_the_time_left_in_the_window() -> None:
    new_york = (ZoneInfo("America/New_York"),)
    verdict = check(at("2026-07-01T23:30:00"), new_york, DEFAULT)  # 19:30 EDT, closes at 21:00
    assert (verdict.open, verdict.validity_seconds) == (True, 90 * 60)
    assert check(at("2026-07-01T12:00:00"), new_york, DEFAULT).validity_seconds == MAX_VALIDITY_SECONDS


def test_after_the_window_it_waits_for_the_next_morning() -> None:
    verdict = check(at("2026-07-02T01:00:00"), (ZoneInfo("America/New_York"),), DEFAULT)  # 21:00 EDT
    assert (verdict.open, verdict.opens_at) == (False, at("2026-07-02T12:00:00"))


def test_several_zones_must_all_be_open() -> None:
    zones = (ZoneInfo("America/New_York"), ZoneInfo("America/Los_Angeles"))
    assert check(at("2026-07-01T13:00:00"), zones, DEFAULT).opens_at == at("2026-07-01T15:00:00")
    verdict = check(at("2026-07-02T00:00:00"), zones, DEFAULT)  # 20:00 New York, 17:00 Los Angeles
    assert (verdict.open, verdict.validity_seconds) == (True, 3600)


def test_zones_that_never_overlap_fall_back_to_the_first() -> None:
    zones = (ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Pacific/Pago_Pago"))  # 25 hours apart
    verdict = check(at("2026-07-01T20:00:00"), zones, Window.parse("08:00-09:00"))
    assert verdict.opens_at == check(at("2026-07-01T20:00:00"), zones[:1], Window.parse("08:00-09:00")).opens_at


def test_a_business_or_campaign_narrows_but_never_widens() -> None:
    assert narrowed(DEFAULT, Window.parse("07:00-20:00"), Window.parse("10:00-22:00")) == Window.parse("10:00-20:00")
    assert narrowed(DEFAULT, None) == DEFAULT
    with pytest.raises(ValueError):
        narrowed(DEFAULT, Window.parse("06:00-07:00"))


def test_a_window_must_start_before_it_ends() -> None:
    with pytest.raises(ValueError):
        Window.parse("21:00-08:00")
