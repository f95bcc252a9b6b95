"""How a browser's call carries its audio: μ-law or 16 kHz L16, in ``media`` messages or binary frames.

The simulated caller speaks and hears μ-law (its lines, its playback, its measures); a browser
converts at its own edge, so this converts each 20 ms frame on the way out and back, as the
browser client (``agent_server/static/voice.js``) does with its AudioWorklets.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from media.audio.web_l16 import l16_to_mulaw, mulaw_to_l16
from media.protocol.twilio import MediaFormat


@dataclass(frozen=True, slots=True)
class WebWire:
    """A browser call's audio on the socket.

    Args:
        l16: 16 kHz 16-bit little-endian PCM (``audio/L16``) instead of 8 kHz μ-law.
        binary: audio both ways as binary messages (``customParameters.frames`` = ``binary``)
            instead of ``media`` messages.
    """

    l16: bool = False
    binary: bool = False

    def media_format(self) -> MediaFormat:
        """The ``mediaFormat`` of ``start``."""
        return MediaFormat("audio/L16", 16000, 1) if self.l16 else MediaFormat("audio/x-mulaw", 8000, 1)

    def parameters(self) -> dict[str, str]:
        """``customParameters`` beside the token."""
        return {"frames": "binary"} if self.binary else {}

    def encode(self, mulaw: bytes) -> bytes:
        """One frame of the caller as it goes out: a binary message's body, or a ``media`` payload in base64."""
        audio = mulaw_to_l16(mulaw) if self.l16 else mulaw
        return audio if self.binary else binascii.b2a_base64(audio, newline=False)

    def decode(self, audio: bytes) -> bytes:
        """One frame of the agent as received (a binary body, or a decoded payload) back to μ-law."""
        return l16_to_mulaw(audio) if self.l16 else audio
