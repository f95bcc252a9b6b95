"""Segment counting: GSM-7 160/153 with extension characters counting twice, else UCS-2 70/67."""

from __future__ import annotations

import pytest

from messaging.segments import MAX_BODY_CHARS, BodyTooLong, Encoding, count_segments


@pytest.mark.parametrize(("length", "parts"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (1530, 10)])
def test_gsm7_holds_160_alone_and_153_per_part(length: int, parts: int) -> None:
    segments = count_segments("a" * length)
    assert (segments.encoding, segments.count, segments.units) == (Encoding.GSM7, parts, length)


def test_extension_characters_count_twice() -> None:
    assert count_segments("€" * 80).count == 1
    assert count_segments("€" * 80 + "a").count == 2
    assert count_segments("{}[]~|^\\").units == 16


def test_an_extension_character_is_not_split_between_parts() -> None:
    """152 septets then an escape pair: the pair moves to the next part, so 306 septets need three, not two."""
    body = "a" * 152 + "€" + "a" * 152
    assert count_segments(body).units == 306
    assert count_segments(body).count == 3


@pytest.mark.parametrize(("body", "parts"), [("é" * 160, 1), ("ç" * 70, 1), ("ç" * 71, 2), ("ç" * 134, 2),
                                             ("ç" * 135, 3)])
def test_outside_the_gsm_alphabet_ucs2_holds_70_alone_and_67_per_part(body: str, parts: int) -> None:
    """é is in GSM-7; ç (lower case) is not, so it forces UCS-2."""
    assert count_segments(body).count == parts


def test_an_emoji_is_two_ucs2_units() -> None:
    segments = count_segments("🙂" * 35)
    assert (segments.encoding, segments.count, segments.units) == (Encoding.UCS2, 1, 70)
    assert count_segments("🙂" * 36).count == 2


def test_a_body_over_1600_characters_is_refused() -> None:
    assert count_segments("a" * MAX_BODY_CHARS).count == 11
    with pytest.raises(BodyTooLong):
        count_segments("a" * (MAX_BODY_CHARS + 1))
