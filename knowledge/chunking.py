"""Markdown cut into retrieval chunks: by headings, then paragraphs, about 500 estimated tokens each.

Tokens are estimated as words x 1.3 (no tokenizer to download). A chunk aims at
`TARGET_TOKENS`, never exceeds `MAX_TOKENS` (a longer paragraph is cut by words), and a
section shorter than `MIN_TOKENS` joins the next one so no chunk is a lone heading. Each chunk
after the first of a section begins with the last 15% of the previous one, so an answer that
straddles a cut is still found whole. Boilerplate the extractor let through (cookie notices,
copyright lines, link lists) is dropped paragraph by paragraph.
"""

from __future__ import annotations

import dataclasses
import math
import re

TARGET_TOKENS = 500
MIN_TOKENS = 200
MAX_TOKENS = 800
OVERLAP = 0.15
TOKENS_PER_WORD = 1.3

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BOILERPLATE = re.compile(
    r"\b(cookies?|all rights reserved|copyright|©|privacy policy|terms of (use|service)|skip to (main )?content"
    r"|subscribe to our newsletter)\b", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One piece of a page as retrieval returns it."""

    position: int
    heading_path: tuple[str, ...]
    content: str
    tokens: int


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text.split()) * TOKENS_PER_WORD)


def _is_boilerplate(paragraph: str) -> bool:
    """A short paragraph about cookies or rights, or a line that is only links, says nothing about the business."""
    words = len(paragraph.split())
    if words <= 40 and _BOILERPLATE.search(paragraph):
        return True
    lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
    return bool(lines) and all(re.fullmatch(r"[-*]?\s*\[[^\]]*\]\([^)]*\)", line) for line in lines)


@dataclasses.dataclass
class _Section:
    path: tuple[str, ...]
    paragraphs: list[str]

    @property
    def tokens(self) -> int:
        return sum(estimate_tokens(p) for p in self.paragraphs)


def _sections(markdown: str) -> list[_Section]:
    sections = [_Section((), [])]
    path: list[tuple[int, str]] = []
    for block in re.split(r"\n\s*\n", markdown):
        block = block.strip()
        heading = _HEADING.match(block.splitlines()[0]) if block else None
        if heading is not None:
            level, text = len(heading.group(1)), heading.group(2)
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, text)]
            sections.append(_Section(tuple(t for _, t in path), []))
            block = "\n".join(block.splitlines()[1:]).strip()
        if block and not _is_boilerplate(block):
            sections[-1].paragraphs.append(block)
    return [s for s in sections if s.paragraphs]


def _merge_small(sections: list[_Section]) -> list[_Section]:
    merged: list[_Section] = []
    for section in sections:
        if merged and merged[-1].tokens < MIN_TOKENS and merged[-1].tokens + section.tokens <= MAX_TOKENS:
            last = merged[-1]
            heading = [" > ".join(section.path)] if section.path and section.path != last.path else []
            merged[-1] = _Section(last.path or section.path, last.paragraphs + heading + section.paragraphs)
        else:
            merged.append(section)
    return merged


def _split_long(paragraph: str) -> list[str]:
    words = paragraph.split()
    step = int(TARGET_TOKENS / TOKENS_PER_WORD)
    return [" ".join(words[i:i + step]) for i in range(0, len(words), step)]


def _pack(paragraphs: list[str]) -> list[str]:
    pieces = [p for paragraph in paragraphs
              for p in (_split_long(paragraph) if estimate_tokens(paragraph) > MAX_TOKENS else [paragraph])]
    chunks: list[list[str]] = [[]]
    for piece in pieces:
        current = sum(estimate_tokens(p) for p in chunks[-1])
        if chunks[-1] and (current >= TARGET_TOKENS or current + estimate_tokens(piece) > MAX_TOKENS):
            chunks.append([])
        chunks[-1].append(piece)
    if len(chunks) > 1 and sum(estimate_tokens(p) for p in chunks[-1]) < MIN_TOKENS:
        tail = chunks.pop()
        if sum(estimate_tokens(p) for p in chunks[-1] + tail) <= MAX_TOKENS:
            chunks[-1].extend(tail)
        else:
            chunks.append(tail)
    return ["\n\n".join(c) for c in chunks]


def _with_overlap(texts: list[str]) -> list[str]:
    words_back = int(TARGET_TOKENS * OVERLAP / TOKENS_PER_WORD)
    out = texts[:1]
    for previous, text in zip(texts, texts[1:]):
        out.append(" ".join(previous.split()[-words_back:]) + "\n\n" + text)
    return out


def chunk_markdown(markdown: str) -> list[Chunk]:
    """The chunks of one page's main content, in reading order."""
    chunks: list[Chunk] = []
    for section in _merge_small(_sections(markdown)):
        for text in _with_overlap(_pack(section.paragraphs)):
            chunks.append(Chunk(len(chunks), section.path, text, estimate_tokens(text)))
    return chunks
