"""Per-stream resampling of 16-bit PCM between the rates a call meets (24k/22.05k/16k/8k).

One :class:`StreamResampler` belongs to one direction of one stream: soxr keeps filter
history between chunks (so chunk joins do not click) and this class keeps the odd byte a
network chunk may split off a 16-bit sample.
"""

from __future__ import annotations

import numpy as np
import soxr
from numpy.typing import NDArray

_EMPTY: NDArray[np.int16] = np.zeros(0, dtype=np.int16)


class StreamResampler:
    """Streaming s16le resampler over :class:`soxr.ResampleStream`.

    Args:
        in_rate: input sample rate in Hz (e.g. 24000 for OpenAI pcm, 22050 for espeak-ng).
        out_rate: output sample rate in Hz (8000 for the phone, 16000 for pocketsphinx).
        quality: soxr quality; "HQ" adds about 20 ms of delay at 8 kHz, which is
            inaudible on a phone and keeps aliasing out of the telephone band.
    """

    __slots__ = ("in_rate", "out_rate", "_stream", "_odd", "_done")

    def __init__(self, in_rate: int, out_rate: int, *, quality: str = "HQ") -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError("sample rates must be positive")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality)
        self._odd = b""
        self._done = False

    def process_array(self, samples: NDArray[np.int16]) -> NDArray[np.int16]:
        """Resample int16 samples; output may lag input by the filter delay."""
        if self._done:
            raise RuntimeError("resampler already flushed")
        out: NDArray[np.int16] = self._stream.resample_chunk(np.ascontiguousarray(samples, dtype=np.int16))
        return out

    def process(self, pcm: bytes) -> bytes:
        """Resample s16le bytes of any length; an odd trailing byte waits for the next call.

        Args:
            pcm: little-endian 16-bit mono bytes as they arrived from the network.

        Returns:
            Resampled s16le bytes (possibly empty while the filter fills).
        """
        if self._odd:
            pcm = self._odd + pcm
        cut = len(pcm) - len(pcm) % 2
        self._odd = pcm[cut:]
        if cut == 0:
            return b""
        samples = np.frombuffer(pcm, dtype="<i2", count=cut // 2).astype(np.int16)
        return self.process_array(samples).astype("<i2").tobytes()

    def flush(self) -> bytes:
        """Drain the filter at end of stream; a dangling odd byte is dropped (half a sample)."""
        if self._done:
            return b""
        out: NDArray[np.int16] = self._stream.resample_chunk(_EMPTY, last=True)
        self._done = True
        self._odd = b""
        return out.astype("<i2").tobytes()
