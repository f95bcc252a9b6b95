"""Twilio Media Streams WebSocket messages: typed parse of inbound frames and cheap serialisers.

Every frame is text JSON. Inbound numbers (``sequenceNumber``, ``chunk``, ``timestamp``)
are decimal *strings* on the wire and ints here; ``to_json()`` writes them back as strings
so a parsed fixture re-serialises to the same JSON object. Fields Twilio may add later are
ignored rather than rejected, because Twilio adds fields without notice.

Outbound ``media`` is the hot path (one per 20 ms per call): :class:`OutboundStream`
preformats everything but the base64 payload once per stream.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

import orjson

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


@dataclass(frozen=True, slots=True)
class OutboundMedia:
    """Audio for Twilio to play: raw 8 kHz mu-law, no header."""

    stream_sid: str
    payload: bytes = field(repr=False)

    def to_json(self) -> str:
        """Serialise to the wire shape (same bytes as :meth:`OutboundStream.media`)."""
        return OutboundStream(self.stream_sid).media(self.payload)


@dataclass(frozen=True, slots=True)
class OutboundMark:
    """A marker Twilio echoes back once everything sent before it has played."""

    stream_sid: str
    name: str

    def to_json(self) -> str:
        """Serialise to the wire shape."""
        return OutboundStream(self.stream_sid).mark(self.name)


@dataclass(frozen=True, slots=True)
class Clear:
    """Drop all queued outbound audio now (barge-in); pending marks are echoed back."""

    stream_sid: str

    def to_json(self) -> str:
        """Serialise to the wire shape."""
        return OutboundStream(self.stream_sid).clear()


OutboundMessage: TypeAlias = OutboundMedia | OutboundMark | Clear


class OutboundStream:
    """Serialisers for messages sent to Twilio on one stream, preformatted per ``streamSid``.

    ``media()`` is a string concatenation around ``binascii.b2a_base64``; it produces
    exactly what ``orjson.dumps`` would for the same object.

    Args:
        stream_sid: the ``streamSid`` from the ``start`` message.
    """

    __slots__ = ("stream_sid", "_media_prefix", "_media_prefix_bytes", "_mark_prefix", "_clear")

    def __init__(self, stream_sid: str) -> None:
        self.stream_sid = stream_sid
        sid = orjson.dumps(stream_sid).decode()
        self._media_prefix = '{"event":"media","streamSid":' + sid + ',"media":{"payload":"'
        self._media_prefix_bytes = self._media_prefix.encode()
        self._mark_prefix = '{"event":"mark","streamSid":' + sid + ',"mark":{"name":'
        self._clear = '{"event":"clear","streamSid":' + sid + "}"

    def media(self, payload: bytes) -> str:
        """Return the ``media`` frame for raw mu-law ``payload``."""
        return self._media_prefix + binascii.b2a_base64(payload, newline=False).decode("ascii") + '"}}'

    def media_bytes(self, payload: bytes) -> bytes:
        """The same frame as UTF-8 bytes, for ``ws.send_frame(data, WSMsgType.TEXT)``.

        Skips the str round trip ``send_str`` would do (decode here, encode there).
        """
        return self._media_prefix_bytes + binascii.b2a_base64(payload, newline=False) + b'"}}'

    def mark(self, name: str) -> str:
        """Return the ``mark`` frame named ``name``."""
        return self._mark_prefix + orjson.dumps(name).decode() + "}}"

    def clear(self) -> str:
        """Return the ``clear`` frame."""
        return self._clear


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
    obj = _load_object(raw)
    event = obj.get("event")
    if event == "media" and (fields := _media_fields(obj)) is not None:
        return Media(*fields)
    if not isinstance(event, str):
        raise ValueError("Twilio message: 'event' must be a string")
    parser = _PARSERS.get(event)
    if parser is None:
        return Unknown(event=event, data=obj)
    return parser(_Fields(event, obj))


def parse_outbound(raw: str | bytes) -> OutboundMessage:
    """Parse a frame *sent to* Twilio; used by Twilio fakes and caller simulators.

    Raises:
        ValueError: malformed frame or an event other than media, mark or clear.
    """
    f = _Fields("outbound", _load_object(raw))
    event = f.text("event")
    if event == "media":
        return OutboundMedia(stream_sid=f.text("streamSid"), payload=f.base64("media.payload"))
    if event == "mark":
        return OutboundMark(stream_sid=f.text("streamSid"), name=f.text("mark.name"))
    if event == "clear":
        return Clear(stream_sid=f.text("streamSid"))
    raise ValueError(f"outbound message: unsupported event {event!r}")


def _load_object(raw: str | bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError("Twilio message: not valid JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("Twilio message: not a JSON object")
    return obj


class _Fields:
    """Typed access to dotted paths of one message, raising ValueErrors that name the path."""

    __slots__ = ("_event", "_obj")

    def __init__(self, event: str, obj: Mapping[str, Any]) -> None:
        self._event = event
        self._obj = obj

    def _fail(self, path: str, what: str) -> ValueError:
        return ValueError(f"{self._event} message: {path!r} {what}")

    def get(self, path: str) -> object:
        node: object = self._obj
        for key in path.split("."):
            if not isinstance(node, Mapping) or key not in node:
                raise self._fail(path, "is missing")
            node = node[key]
        return node

    def text(self, path: str) -> str:
        value = self.get(path)
        if not isinstance(value, str):
            raise self._fail(path, "must be a string")
        return value

    def integer(self, path: str) -> int:
        value = self.get(path)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(path, "must be an integer")
        return value

    def counter(self, path: str) -> int:
        """Twilio sends counters as decimal strings."""
        value = self.text(path)
        if not value.isascii() or not value.isdigit():
            raise self._fail(path, "must be a decimal string")
        return int(value)

    def base64(self, path: str) -> bytes:
        try:
            return binascii.a2b_base64(self.text(path), strict_mode=True)
        except binascii.Error:
            raise self._fail(path, "must be valid base64") from None

    def texts(self, path: str) -> tuple[str, ...]:
        value = self.get(path)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(path, "must be a list of strings")
        return tuple(value)

    def text_map(self, path: str) -> dict[str, str]:
        value = self.get(path)
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._fail(path, "must be an object of strings")
        return dict(value)


def _parse_connected(f: _Fields) -> Connected:
    return Connected(protocol=f.text("protocol"), version=f.text("version"))


def _parse_start(f: _Fields) -> Start:
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


def media_frame(raw: str | bytes) -> tuple[bytes, int] | None:
    """The audio and ``media.timestamp`` of a well-formed inbound ``media`` frame; None for any other frame.

    The socket reader's per-frame path (50 frames/s per call): it takes what
    :func:`parse_message` would turn into :class:`Media`, without building the frozen
    dataclass (its ``__init__`` alone was 2-3% of a 100-call server profile). Anything
    else, including every malformed frame, is None, and ``parse_message`` then gives the
    typed message or the exact error.
    """
    try:
        fields = _media_fields(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return None
    return None if fields is None else (fields[5], fields[4])


def _media_fields(obj: Any) -> tuple[int, str, str, int, int, bytes] | None:
    """``Media``'s fields from a decoded frame, checked with plain lookups; None for anything unusual."""
    try:
        if obj["event"] != "media":
            return None
        media = obj["media"]
        seq, chunk, ts = obj["sequenceNumber"], media["chunk"], media["timestamp"]
        sid, track = obj["streamSid"], media["track"]
        if not (type(sid) is str and type(track) is str and type(seq) is str and type(chunk) is str
                and type(ts) is str and seq.isdecimal() and chunk.isdecimal() and ts.isdecimal()
                and seq.isascii() and chunk.isascii() and ts.isascii()):
            return None
        payload = binascii.a2b_base64(media["payload"], strict_mode=True)
        return int(seq), sid, track, int(chunk), int(ts), payload
    except (KeyError, TypeError, binascii.Error):
        return None


def _parse_media(f: _Fields) -> Media:
    return Media(
        sequence_number=f.counter("sequenceNumber"),
        stream_sid=f.text("streamSid"),
        track=f.text("media.track"),
        chunk=f.counter("media.chunk"),
        timestamp=f.counter("media.timestamp"),
        payload=f.base64("media.payload"),
    )


def _parse_mark(f: _Fields) -> Mark:
    return Mark(sequence_number=f.counter("sequenceNumber"), stream_sid=f.text("streamSid"), name=f.text("mark.name"))


def _parse_dtmf(f: _Fields) -> Dtmf:
    return Dtmf(
        sequence_number=f.counter("sequenceNumber"),
        stream_sid=f.text("streamSid"),
        track=f.text("dtmf.track"),
        digit=f.text("dtmf.digit"),
    )


def _parse_stop(f: _Fields) -> Stop:
    return Stop(
        sequence_number=f.counter("sequenceNumber"),
        stream_sid=f.text("streamSid"),
        account_sid=f.text("stop.accountSid"),
        call_sid=f.text("stop.callSid"),
    )


_PARSERS: Final[Mapping[str, Callable[[_Fields], InboundMessage]]] = {
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
