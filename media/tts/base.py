"""The text-to-speech interface: text in, 8 kHz mu-law bytes out as soon as they are made.

Every provider converts to the phone format itself, so the pipeline frames and sends the
bytes without knowing which provider produced them. Chunk sizes are arbitrary; use
:class:`media.audio.g711.FrameChunker` to cut 160-byte frames.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator


class TtsError(Exception):
    """Synthesis failed (HTTP error, bad voice, engine failure).

    Attributes:
        status: the HTTP status when the provider answered with one, else None.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TtsProvider(abc.ABC):
    """One instance per process, shared by all calls."""

    name: str

    @abc.abstractmethod
    def synthesize(self, text: str, voice: str | None = None) -> AsyncGenerator[bytes, None]:
        """Stream speech for ``text``.

        Args:
            text: one sentence or a short reply.
            voice: provider-specific voice name; None uses the provider's default.

        Returns:
            An async generator of 8 kHz mu-law chunks (never empty chunks). Closing it early
            (``aclose()`` or cancellation) releases the underlying request.

        Raises:
            TtsError: while iterating, when synthesis fails.
        """

    async def aclose(self) -> None:
        """Release process-wide resources (default: nothing to release)."""
        return None
