"""What Twilio sends us on a media stream: typed messages, their checked parse, and their wire shape back.

Numbers Twilio sends as decimal strings are ints here and strings again in ``to_json()``, so a
parsed fixture re-serialises to the same JSON object; fields Twilio adds later are ignored.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

import orjson

from media.protocol.twilio.fast_media import media_fields
from media.protocol.twilio.fields import Fields, load_object


@dataclass(frozen=True, slots=True)
class MediaFormat:
    """Audio format announced in ``start``; Twilio sends audio/x-mulaw, 8000 Hz, mono."""

    encoding: str
    sample_rate: int
    channels: int


@dataclass(frozen=True, slots=True)
class Connected:
    """First frame on a new stream socket."""

    protocol: str
    version: str

    def to_json(self) -> str:
        """Serialise back to Twilio's wire shape."""
        return _dumps({"event": "connected", "protocol": self.protocol, "version": self.version})


@dataclass(frozen=True, slots=True)
class Start:
    """Stream metadata; ``custom_parameters`` carries the TwiML ``<Parameter>`` values."""

    sequence_number: int
    stream_sid: str
    account_sid: str
    call_sid: str
    tracks: tuple[str, ...]
    custom_parameters: Mapping[str, str] = field(hash=False)
    media_format: MediaFormat

    def to_json(self) -> str:
        """Serialise back to Twilio's wire shape."""
        fmt = self.media_format
        return _dumps(
            {
                "event": "start",
                "sequenceNumber": str(self.sequence_number),
                "streamSid": self.stream_sid,
                "start": {
                    "streamSid": self.stream_sid,
                    "accountSid": self.account_sid,
                    "callSid": self.call_sid,
                    "tracks": list(self.tracks),
                    "customParameters": dict(self.custom_parameters),
                    "mediaFormat": {
                        "encoding": fmt.encoding,
                        "sampleRate": fmt.sample_rate,
                        "channels": fmt.channels,
                    },
                },
            }
        )


@dataclass(frozen=True, slots=True)
class Media:
    """One inbound audio chunk; ``payload`` is raw mu-law (base64-decoded), usually 160 bytes."""

    sequence_number: int
    stream_sid: str
    track: str
    chunk: int
    timestamp: int
    payload: bytes = field(repr=False)

    def to_json(self) -> str:
        """Serialise back to Twilio's wire shape."""
        return _dumps(
            {
                "event": "media",
                "sequenceNumber": str(self.sequence_number),
                "streamSid": self.stream_sid,
                "media": {
                    "track": self.track,
                    "chunk": str(self.chunk),
                    "timestamp": str(self.timestamp),
                    "payload": _b64(self.payload),
                },
            }
        )


@dataclass(frozen=True, slots=True)
class Mark:
    """Echo of a mark we sent: playback reached it (or a ``clear`` discarded it)."""

    sequence_number: int
    stream_sid: str
    name: str

    def to_json(self) -> str:
        """Serialise back to Twilio's wire shape."""
        return _dumps(
            {
                "event": "mark",
                "sequenceNumber": str(self.sequence_number),
                "streamSid": self.stream_sid,
                "mark": {"name": self.name},
            }
        )


@dataclass(frozen=True, slots=True)
class Dtmf:
    """A key the caller pressed."""

    sequence_number: int
    stream_sid: str
    track: str
    digit: str

    def to_json(self) -> str:
        """Serialise back to Twilio's wire shape."""
        return _dumps(
            {
                "event": "dtmf",
                "sequenceNumber": str(self.sequence_number),
                "streamSid": self.stream_sid,
                "dtmf": {"track": self.track, "digit": self.digit},
            }
        )


@dataclass(frozen=True, slots=True)
class Stop:
    """The stream ended (hang-up or the call left ``<Connect>``)."""

    sequence_number: int
    stream_sid: str
    account_sid: str
    call_sid: str

    def to_json(self) -> str:
        """Serialise back to Twilio's wire shape."""
        return _dumps(
            {
                "event": "stop",
                "sequenceNumber": str(self.sequence_number),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
            }
        )


@dataclass(frozen=True, slots=True)
class Unknown:
    """An event this module does not model; kept whole so callers can log it."""

    event: str
    data: Mapping[str, Any] = field(hash=False)

    def to_json(self) -> str:
        """Serialise the original object."""
        return _dumps(dict(self.data))


InboundMessage: TypeAlias = Connected | Start | Media | Mark | Dtmf | Stop | Unknown


def parse_message(raw: str | bytes) -> InboundMessage:
    """Parse one text frame received from Twilio.

    Args:
        raw: the frame's text (``str`` or UTF-8 ``bytes``).

    Returns:
        The typed message; :class:`Unknown` for an event this module does not model.

    Raises:
        ValueError: the frame is not JSON, not an object, lacks ``event``, or a known
            event lacks a field or has one of the wrong type. Messages name the field,
            e.g. ``"media message: 'media.payload' must be a string"``.
    """
    obj = load_object(raw)
    event = obj.get("event")
    if event == "media" and (fields := media_fields(obj)) is not None:
        return Media(*fields)
    if not isinstance(event, str):
        raise ValueError("Twilio message: 'event' must be a string")
    parser = _PARSERS.get(event)
    if parser is None:
        return Unknown(event=event, data=obj)
    return parser(Fields(event, obj))


def _parse_connected(f: Fields) -> Connected:
    return Connected(protocol=f.text("protocol"), version=f.text("version"))


def _parse_start(f: Fields) -> Start:
    return Start(
        sequence_number=f.counter("sequenceNumber"),
        stream_sid=f.text("streamSid"),
        account_sid=f.text("start.accountSid"),
        call_sid=f.text("start.callSid"),
        tracks=f.texts("start.tracks"),
        custom_parameters=f.text_map("start.customParameters"),
        media_format=MediaFormat(
            encoding=f.text("start.mediaFormat.encoding"),
            sample_rate=f.integer("start.mediaFormat.sampleRate"),
            channels=f.integer("start.mediaFormat.channels"),
        ),
    )


def _parse_media(f: Fields) -> Media:
    return Media(
        sequence_number=f.counter("sequenceNumber"),
        stream_sid=f.text("streamSid"),
        track=f.text("media.track"),
        chunk=f.counter("media.chunk"),
        timestamp=f.counter("media.timestamp"),
        payload=f.base64("media.payload"),
    )


def _parse_mark(f: Fields) -> Mark:
    return Mark(sequence_number=f.counter("sequenceNumber"), stream_sid=f.text("streamSid"), name=f.text("mark.name"))


def _parse_dtmf(f: Fields) -> Dtmf:
    return Dtmf(
        sequence_number=f.counter("sequenceNumber"),
        stream_sid=f.text("streamSid"),
        track=f.text("dtmf.track"),
        digit=f.text("dtmf.digit"),
    )


def _parse_stop(f: Fields) -> Stop:
    return Stop(
        sequence_number=f.counter("sequenceNumber"),
        stream_sid=f.text("streamSid"),
        account_sid=f.text("stop.accountSid"),
        call_sid=f.text("stop.callSid"),
    )


_PARSERS: Final[Mapping[str, Callable[[Fields], InboundMessage]]] = {
    "connected": _parse_connected,
    "start": _parse_start,
    "media": _parse_media,
    "mark": _parse_mark,
    "dtmf": _parse_dtmf,
    "stop": _parse_stop,
}


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _dumps(obj: Mapping[str, Any]) -> str:
    return orjson.dumps(obj).decode()
