"""Streaming sentence chunker: LLM tokens in, speakable sentences out as soon as they end.

TTS latency is dominated by the first sentence, so a sentence is released at its terminator
whenever the ending is already certain there: ``!`` and ``?``, and ``.`` after a word that
is neither a known abbreviation, an initial nor a number. With tokens 20 ms apart, waiting
for the next character would cost every reply one token interval before TTS starts. Only
where the next character really decides does the chunker wait for it ("3." followed by "5"
is a decimal, "Dr." followed by a name is not an ending, a quote or bracket still open may
close after the terminator). A run-on without terminators is cut at a comma or space once
it reaches ``max_chars`` so speech never waits for a whole paragraph.
"""

from __future__ import annotations

from typing import Final

_TERMINATORS: Final = frozenset(".!?")
_CLOSERS: Final = frozenset("\"')]}\u201d\u2019")
_PAIRS: Final = (("(", ")"), ("[", "]"), ("{", "}"), ("\u201c", "\u201d"))
_ABBREVIATIONS: Final = frozenset(
    {"dr", "mr", "mrs", "ms", "prof", "sr", "jr", "st", "vs", "e.g", "i.e", "approx", "no", "mt", "ft"}
)
DEFAULT_MAX_CHARS: Final = 220


class SentenceChunker:
    """Incremental splitter; one instance per LLM reply.

    Args:
        max_chars: longest sentence released without a terminator (cut at the last
            comma, else the last space, else hard at the limit).
    """

    __slots__ = ("max_chars", "_buf", "_scan")

    def __init__(self, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        if max_chars < 2:
            raise ValueError("max_chars must be at least 2")
        self.max_chars = max_chars
        self._buf = ""
        self._scan = 0

    def feed(self, text: str) -> list[str]:
        """Add a token and return the sentences it completed (stripped, never empty)."""
        self._buf += text
        out: list[str] = []
        while True:
            end = self._find_end()
            if end is not None and len(self._buf[:end].strip()) <= self.max_chars:
                self._emit(end, out)
            elif len(self._buf.strip()) > self.max_chars:
                self._emit(self._fallback_cut(), out)
            else:
                return out

    def flush(self) -> list[str]:
        """Return whatever is left at the end of the reply (split by ``max_chars`` if long)."""
        out = self.feed("")
        while len(self._buf.strip()) > self.max_chars:
            self._emit(self._fallback_cut(), out)
        self._emit(len(self._buf), out)
        return out

    def _emit(self, end: int, out: list[str]) -> None:
        piece = self._buf[:end].strip()
        self._buf = self._buf[end:]
        self._scan = 0
        if piece:
            out.append(piece)

    def _find_end(self) -> int | None:
        """Index just past a finished sentence, or None; advances ``_scan`` past decided text."""
        buf = self._buf
        i = self._scan
        while i < len(buf):
            ch = buf[i]
            if ch == "\n":
                return i + 1
            if ch in _TERMINATORS:
                j = i + 1
                while j < len(buf) and (buf[j] in _TERMINATORS or buf[j] in _CLOSERS):
                    j += 1
                if j == len(buf):
                    if ending_is_certain(buf, i, j):
                        return j
                    self._scan = i
                    return None
                if buf[j].isspace() and not self._is_abbreviation(i):
                    return j
                i = j
                continue
            i += 1
        self._scan = i
        return None

    def _is_abbreviation(self, dot: int) -> bool:
        """True when the period at ``dot`` closes an abbreviation or a list number."""
        if self._buf[dot] != ".":
            return False
        start = dot
        while start > 0 and not self._buf[start - 1].isspace():
            start -= 1
        word = self._buf[start:dot].lstrip("\"'([{").lower()
        if word in _ABBREVIATIONS:
            return True
        at_line_start = not self._buf[:start].strip(" \t") or self._buf[:start].rstrip(" \t").endswith("\n")
        return word.isdigit() and len(word) <= 2 and at_line_start

    def _fallback_cut(self) -> int:
        """Where to split an over-long run: after a comma, else at a space, else hard."""
        lead = len(self._buf) - len(self._buf.lstrip())
        window = self._buf[: lead + self.max_chars]
        comma = window.rfind(", ", lead)
        if comma > lead:
            return comma + 1
        space = max(window.rfind(" ", lead), window.rfind("\t", lead))
        if space > lead:
            return space
        return lead + self.max_chars


def ending_is_certain(text: str, start: int, end: int) -> bool:
    """Whether the terminator run ``text[start:end]``, with nothing after it yet, surely ends a sentence.

    ``!`` and ``?`` do; a run of dots does after a word of two or more letters that is not a
    known abbreviation (an initial, "e.g", "3." or "Dr." wait for the next character). Either
    waits while a quote or bracket opened in the text is still open, since its closer belongs
    to the sentence; once the closer has come (``wait."``), the ending is as certain as the
    terminator before it. ``text`` is the sentence so far (the chunker's buffer).
    """
    run = text[start:end]
    if _open_quote(text[:end]):
        return False
    if "!" in run or "?" in run:
        return True
    word = text[:start].rsplit(None, 1)[-1] if text[:start].strip() else ""
    word = word.lstrip("\"'([{\u201c\u2018").lower()
    return len(word) >= 2 and word.isalpha() and word not in _ABBREVIATIONS


def _open_quote(text: str) -> bool:
    """Whether ``text`` leaves a double quote, a bracket or a word-initial single quote open."""
    if (text.count('"') % 2) or any(text.count(a) > text.count(b) for a, b in _PAIRS):
        return True
    opened = sum(1 for i, ch in enumerate(text) if ch in "'\u2018" and (i == 0 or text[i - 1].isspace()))
    closed = sum(1 for i, ch in enumerate(text) if ch in "'\u2019" and 0 < i and not text[i - 1].isspace()
                 and (i + 1 == len(text) or not text[i + 1].isalpha()))
    return opened > closed


def split_sentences(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Split a whole text at once (same rules as the streaming chunker)."""
    chunker = SentenceChunker(max_chars)
    return chunker.feed(text) + chunker.flush()
