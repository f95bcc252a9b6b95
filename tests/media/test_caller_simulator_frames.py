"""The caller simulator's per-frame shortcuts say exactly what the checked Twilio serialiser and parser say."""

from __future__ import annotations

import binascii

import pytest

from media.caller_simulator.line import InboundStream
from media.caller_simulator.playback import media_payload
from media.protocol.twilio import Media, OutboundStream, parse_outbound

PAYLOAD = bytes(range(160))


@pytest.mark.parametrize("stream_sid", ["MZ" + "0" * 32, 'MZ"quoted"', "MZ%d%%s", "MZ\u00e9\\"])
def test_inbound_media_frame_is_byte_identical_to_the_typed_message(stream_sid: str) -> None:
    """The preformatted frame equals Media.to_json(), even for sids with quotes, escapes or %-signs."""
    stream = InboundStream(stream_sid)
    for sequence, chunk in [(2, 1), (10_000, 9_999)]:
        timestamp = (chunk - 1) * 20
        expected = Media(sequence_number=sequence, stream_sid=stream_sid, track="inbound", chunk=chunk,
                         timestamp=timestamp, payload=PAYLOAD).to_json()
        frame = stream.media(sequence, chunk, timestamp, binascii.b2a_base64(PAYLOAD, newline=False))
        assert frame == expected.encode()


def test_fast_media_parse_agrees_with_parse_outbound() -> None:
    """Well-formed media frames give the same audio; anything else is left to the checked parser."""
    good = OutboundStream("MZ1").media(PAYLOAD)
    assert media_payload(good) == parse_outbound(good).payload  # type: ignore[union-attr]
    for other in ['{"event":"mark","streamSid":"MZ1","mark":{"name":"x"}}', '{"event":"clear","streamSid":"MZ1"}',
                  '{"event":"media","streamSid":1,"media":{"payload":""}}',
                  '{"event":"media","streamSid":"MZ1","media":{"payload":"not base64!"}}',
                  '{"event":"media","streamSid":"MZ1","media":{"payload":7}}', "[]", "not json"]:
        assert media_payload(other) is None
