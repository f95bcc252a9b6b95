"""Twilio Media Streams wire format: parsing, round trips, invalid frames, outbound serialisers."""

from __future__ import annotations

import base64
import copy
from typing import Any

import orjson
import pytest

from media.protocol import twilio
from media.protocol.twilio import (
    Clear,
    Connected,
    Dtmf,
    Mark,
    Media,
    MediaFormat,
    OutboundMark,
    OutboundMedia,
    OutboundStream,
    Start,
    Stop,
    Unknown,
    media_frame,
    parse_message,
    parse_outbound,
)

SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
CALL = "CA2a2d2e8d2f9a2f6c2b6c0c9d4e5f6a7b"
ACCOUNT = "AC0123456789abcdef0123456789abcdef"
PAYLOAD = bytes(range(160))

# Shapes as Twilio sends them (documented message reference): counters are strings.
FIXTURES: dict[str, dict[str, Any]] = {
    "connected": {"event": "connected", "protocol": "Call", "version": "1.0.0"},
    "start": {
        "event": "start", "sequenceNumber": "1", "streamSid": SID,
        "start": {"streamSid": SID, "accountSid": ACCOUNT, "callSid": CALL, "tracks": ["inbound"],
                  "customParameters": {"call_token": "tok.en"},
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}},
    },
    "media": {
        "event": "media", "sequenceNumber": "2", "streamSid": SID,
        "media": {"track": "inbound", "chunk": "1", "timestamp": "20",
                  "payload": base64.b64encode(PAYLOAD).decode()},
    },
    "dtmf": {"event": "dtmf", "sequenceNumber": "7", "streamSid": SID, "dtmf": {"track": "inbound_track", "digit": "5"}},
    "mark": {"event": "mark", "sequenceNumber": "9", "streamSid": SID, "mark": {"name": "reply-3"}},
    "stop": {"event": "stop", "sequenceNumber": "10", "streamSid": SID, "stop": {"accountSid": ACCOUNT, "callSid": CALL}},
}

EXPECTED: dict[str, twilio.InboundMessage] = {
    "connected": Connected(protocol="Call", version="1.0.0"),
    "start": Start(sequence_number=1, stream_sid=SID, account_sid=ACCOUNT, call_sid=CALL, tracks=("inbound",),
                   custom_parameters={"call_token": "tok.en"},
                   media_format=MediaFormat(encoding="audio/x-mulaw", sample_rate=8000, channels=1)),
    "media": Media(sequence_number=2, stream_sid=SID, track="inbound", chunk=1, timestamp=20, payload=PAYLOAD),
    "dtmf": Dtmf(sequence_number=7, stream_sid=SID, track="inbound_track", digit="5"),
    "mark": Mark(sequence_number=9, stream_sid=SID, name="reply-3"),
    "stop": Stop(sequence_number=10, stream_sid=SID, account_sid=ACCOUNT, call_sid=CALL),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_parses_to_typed_message_and_round_trips(name: str) -> None:
    """Each captured-style frame parses to its dataclass, and to_json() gives back the same JSON object."""
    raw = orjson.dumps(FIXTURES[name])
    message = parse_message(raw)
    assert message == EXPECTED[name]
    assert orjson.loads(message.to_json()) == FIXTURES[name]
    assert parse_message(message.to_json()) == message
    assert parse_message(raw.decode()) == message


def test_unknown_event_is_kept_whole() -> None:
    """An event this code does not model comes back as Unknown and re-serialises unchanged."""
    frame = {"event": "transcription", "streamSid": SID, "x": [1, 2]}
    message = parse_message(orjson.dumps(frame))
    assert message == Unknown(event="transcription", data=frame)
    assert orjson.loads(message.to_json()) == frame


def test_extra_fields_from_twilio_are_ignored() -> None:
    """Twilio adds fields without notice: they must not break parsing."""
    frame = copy.deepcopy(FIXTURES["media"])
    frame["media"]["new"] = True
    frame["account"] = "x"
    assert parse_message(orjson.dumps(frame)) == EXPECTED["media"]


def _mutated(name: str, path: str, value: object) -> bytes:
    frame = copy.deepcopy(FIXTURES[name])
    *parents, last = path.split(".")
    node = frame
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return orjson.dumps(frame)


_DELETE = object()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "Twilio message: not valid JSON"),
        (b"[1, 2]", "Twilio message: not a JSON object"),
        (b'{"streamSid": "MZ"}', "Twilio message: 'event' must be a string"),
        (b'{"event": 5}', "Twilio message: 'event' must be a string"),
        (_mutated("media", "media.payload", _DELETE), "media message: 'media.payload' is missing"),
        (_mutated("media", "media.payload", "@@@"), "media message: 'media.payload' must be valid base64"),
        (_mutated("media", "media.payload", 12), "media message: 'media.payload' must be a string"),
        (_mutated("media", "media", "x"), "media message: 'media.track' is missing"),
        (_mutated("media", "sequenceNumber", 2), "media message: 'sequenceNumber' must be a string"),
        (_mutated("media", "media.timestamp", "-20"), "media message: 'media.timestamp' must be a decimal string"),
        (_mutated("media", "media.chunk", "１"), "media message: 'media.chunk' must be a decimal string"),
        (_mutated("start", "start.callSid", _DELETE), "start message: 'start.callSid' is missing"),
        (_mutated("start", "start.tracks", "inbound"), "start message: 'start.tracks' must be a list of strings"),
        (_mutated("start", "start.customParameters", {"a": 1}),
         "start message: 'start.customParameters' must be an object of strings"),
        (_mutated("start", "start.mediaFormat.sampleRate", "8000"),
         "start message: 'start.mediaFormat.sampleRate' must be an integer"),
        (_mutated("start", "start.mediaFormat.channels", True),
         "start message: 'start.mediaFormat.channels' must be an integer"),
        (_mutated("mark", "mark.name", None), "mark message: 'mark.name' must be a string"),
        (_mutated("dtmf", "dtmf.digit", _DELETE), "dtmf message: 'dtmf.digit' is missing"),
        (_mutated("stop", "stop", None), "stop message: 'stop.accountSid' is missing"),
        (_mutated("connected", "version", _DELETE), "connected message: 'version' is missing"),
    ],
)
def test_invalid_frames_raise_exact_value_errors(raw: bytes, message: str) -> None:
    """Malformed frames fail with a ValueError naming the problem field."""
    with pytest.raises(ValueError) as info:
        parse_message(raw)
    assert str(info.value) == message


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_media_frame_takes_exactly_the_frames_that_parse_as_media(name: str) -> None:
    """The reader's shortcut gives a media frame's audio and timestamp, and None for every other event."""
    raw = orjson.dumps(FIXTURES[name])
    message = parse_message(raw)
    expected = (message.payload, message.timestamp) if isinstance(message, Media) else None
    assert media_frame(raw) == expected
    assert media_frame(raw.decode()) == expected


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'"media"', b"5", b'{"event": "media"}',
     _mutated("media", "media.payload", "@@@"), _mutated("media", "media.payload", 12),
     _mutated("media", "media", "x"), _mutated("media", "media", ["x"]), _mutated("media", "sequenceNumber", 2),
     _mutated("media", "media.timestamp", "-20"), _mutated("media", "media.chunk", "１"),
     _mutated("media", "streamSid", None), _mutated("media", "media.track", _DELETE)],
)
def test_media_frame_leaves_every_malformed_frame_to_the_checked_parser(raw: bytes) -> None:
    """None for anything unusual, so parse_message produces the exact error for it."""
    assert media_frame(raw) is None
    with pytest.raises(ValueError):
        parse_message(raw)


def test_outbound_media_matches_generic_serialiser_and_parses_back() -> None:
    """The templated hot-path media frame equals orjson's output and round-trips through parse_outbound."""
    stream = OutboundStream(SID)
    frame = stream.media(PAYLOAD)
    assert frame == orjson.dumps({"event": "media", "streamSid": SID,
                                  "media": {"payload": base64.b64encode(PAYLOAD).decode()}}).decode()
    assert parse_outbound(frame) == OutboundMedia(stream_sid=SID, payload=PAYLOAD)
    assert OutboundMedia(stream_sid=SID, payload=PAYLOAD).to_json() == frame
    assert stream.media_bytes(PAYLOAD) == frame.encode()


def test_outbound_mark_and_clear_shapes() -> None:
    """mark and clear carry the stream sid; names needing JSON escapes are escaped."""
    stream = OutboundStream(SID)
    assert orjson.loads(stream.mark('r1-"s2"')) == {"event": "mark", "streamSid": SID, "mark": {"name": 'r1-"s2"'}}
    assert orjson.loads(stream.clear()) == {"event": "clear", "streamSid": SID}
    assert parse_outbound(stream.mark("r1")) == OutboundMark(stream_sid=SID, name="r1")
    assert parse_outbound(stream.clear()) == Clear(stream_sid=SID)
    assert Clear(stream_sid=SID).to_json() == stream.clear()
    assert OutboundMark(stream_sid=SID, name="r1").to_json() == stream.mark("r1")


def test_parse_outbound_rejects_inbound_only_events() -> None:
    """A fake Twilio must notice when the server sends something Twilio would reject."""
    with pytest.raises(ValueError) as info:
        parse_outbound(b'{"event": "stop", "streamSid": "MZ1"}')
    assert str(info.value) == "outbound message: unsupported event 'stop'"


def test_media_repr_hides_payload() -> None:
    """Payload bytes stay out of reprs (and so out of logs)."""
    assert "payload" not in repr(EXPECTED["media"])


@pytest.mark.parametrize("payload", ["AAAA=", "AAAA==", "AA==", "AA=", "A===", "AAA", "AAAA\n", "AA AA", "-_-_",
                                     "AAAA=AAAA", "=AAA", "AA==AA==", ""])
def test_media_frame_never_yields_audio_the_checked_parser_would_not(payload: str) -> None:
    """Odd base64: the shortcut may decline what parse_message takes as Media (the reader then forwards that),
    but never yields audio parse_message refuses or decodes otherwise."""
    raw = _mutated("media", "media.payload", payload)
    fast = media_frame(raw)
    try:
        message = parse_message(raw)
    except ValueError:
        assert fast is None
        return
    assert isinstance(message, Media)
    assert fast is None or fast == (message.payload, message.timestamp)
