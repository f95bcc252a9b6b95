"""Twilio Media Streams WebSocket messages: typed parse of inbound frames and cheap serialisers.

Every frame is text JSON. Inbound numbers (``sequenceNumber``, ``chunk``, ``timestamp``)
are decimal *strings* on the wire and ints here; ``to_json()`` writes them back as strings
so a parsed fixture re-serialises to the same JSON object. Fields Twilio may add later are
ignored rather than rejected, because Twilio adds fields without notice.

Outbound ``media`` is the hot path (one per 20 ms per call): :class:`OutboundStream`
preformats everything but the base64 payload once per stream.

The modules: :mod:`.inbound` (what Twilio sends us, parsed and re-serialised),
:mod:`.outbound` (what we send Twilio, built and, for fakes, parsed), :mod:`.fast_media`
(the per-frame path for inbound audio) and :mod:`.fields` (checked access shared by both parsers).
"""

from media.protocol.twilio.fast_media import media_frame
from media.protocol.twilio.inbound import (
    Connected,
    Dtmf,
    InboundMessage,
    Mark,
    Media,
    MediaFormat,
    Start,
    Stop,
    Unknown,
    parse_message,
)
from media.protocol.twilio.outbound import (
    Clear,
    OutboundMark,
    OutboundMedia,
    OutboundMessage,
    OutboundStream,
    parse_outbound,
)

__all__ = [
    "Clear",
    "Connected",
    "Dtmf",
    "InboundMessage",
    "Mark",
    "Media",
    "MediaFormat",
    "OutboundMark",
    "OutboundMedia",
    "OutboundMessage",
    "OutboundStream",
    "Start",
    "Stop",
    "Unknown",
    "media_frame",
    "parse_message",
    "parse_outbound",
]
