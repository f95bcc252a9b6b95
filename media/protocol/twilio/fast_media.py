"""The inbound ``media`` frame's fast path: a typed msgspec decode, without the checked parser.

Inbound audio arrives at 50 frames/s per call. This module takes media frames the checked
parser would turn into ``Media`` and returns None for everything else, which then goes to
:func:`media.protocol.twilio.inbound.parse_message` for the typed message or the exact error.
"""

from __future__ import annotations

import binascii
from typing import Any

import msgspec


class _MediaBody(msgspec.Struct):
    track: str
    chunk: str
    timestamp: str
    payload: bytes
    """msgspec decodes the base64 itself: never a string strict ``a2b_base64`` refuses."""


class _MediaFrame(msgspec.Struct, rename="camel"):
    event: str
    sequence_number: str
    stream_sid: str
    media: _MediaBody


_DECODE = msgspec.json.Decoder(_MediaFrame).decode


def media_frame(raw: str | bytes) -> tuple[bytes, int] | None:
    """The audio and ``media.timestamp`` of a well-formed inbound ``media`` frame; None for any other frame.

    The socket reader's per-frame path (50 frames/s per call). A typed msgspec decode checks
    the shape, the types and the base64 in C and builds no dict: 0.7 µs a frame, against 2.1 µs
    for ``orjson.loads`` and the same checks as plain lookups (12,300 instructions a frame
    against 23,400 under callgrind). Unknown fields are ignored, as Twilio adds fields. None
    for every other event and every malformed frame; the rare frame this declines that
    :func:`parse_message` still takes as ``Media`` (base64 with padding msgspec refuses,
    ``"AAAA="``) is handed on by the reader all the same, so the two never disagree on audio.
    """
    try:
        frame = _DECODE(raw)
    except msgspec.DecodeError:
        return None
    media = frame.media
    seq, chunk, ts = frame.sequence_number, media.chunk, media.timestamp
    if (frame.event != "media" or not (seq.isdecimal() and chunk.isdecimal() and ts.isdecimal()
                                       and seq.isascii() and chunk.isascii() and ts.isascii())):
        return None
    return media.payload, int(ts)


def media_fields(obj: Any) -> tuple[int, str, str, int, int, bytes] | None:
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
