"""What we send Twilio on a media stream: audio, marks and ``clear``, built cheaply and parsed for fakes."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

import orjson

from media.protocol.twilio.fields import Fields, load_object


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
        encode: converts each μ-law payload to the stream's own format first (a browser's
            `audio/L16`); None sends μ-law as Twilio takes it.
    """

    __slots__ = ("stream_sid", "_media_prefix", "_media_prefix_bytes", "_mark_prefix", "_clear", "_encode")

    def __init__(self, stream_sid: str, encode: Callable[[bytes], bytes] | None = None) -> None:
        self.stream_sid = stream_sid
        self._encode = encode
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
        if self._encode is not None:
            payload = self._encode(payload)
        return self._media_prefix_bytes + binascii.b2a_base64(payload, newline=False) + b'"}}'

    def mark(self, name: str) -> str:
        """Return the ``mark`` frame named ``name``."""
        return self._mark_prefix + orjson.dumps(name).decode() + "}}"

    def clear(self) -> str:
        """Return the ``clear`` frame."""
        return self._clear


def parse_outbound(raw: str | bytes) -> OutboundMessage:
    """Parse a frame *sent to* Twilio; used by Twilio fakes and caller simulators.

    Raises:
        ValueError: malformed frame or an event other than media, mark or clear.
    """
    f = Fields("outbound", load_object(raw))
    event = f.text("event")
    if event == "media":
        return OutboundMedia(stream_sid=f.text("streamSid"), payload=f.base64("media.payload"))
    if event == "mark":
        return OutboundMark(stream_sid=f.text("streamSid"), name=f.text("mark.name"))
    if event == "clear":
        return Clear(stream_sid=f.text("streamSid"))
    raise ValueError(f"outbound message: unsupported event {event!r}")
