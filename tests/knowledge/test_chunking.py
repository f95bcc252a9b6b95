"""Chunks: headings then paragraphs, ~500 estimated tokens (200-800), 15% overlap, boilerplate dropped."""

from __future__ import annotations

from knowledge.chunking import MAX_TOKENS, MIN_TOKENS, chunk_markdown, estimate_tokens


def _paragraph(seed: str, words: int) -> str:
    return " ".join(f"{seed}{i}" for i in range(words))


def test_long_sections_split_between_min_and_max_with_overlap() -> None:
    markdown = "# Guide\n\n" + "\n\n".join(_paragraph(f"p{n}w", 120) for n in range(12))
    chunks = chunk_markdown(markdown)
    assert len(chunks) >= 3
    assert all(MIN_TOKENS <= c.tokens <= MAX_TOKENS + 100 for c in chunks)
    for previous, chunk in zip(chunks, chunks[1:]):
        tail = previous.content.split()[-10:]
        assert chunk.content.split()[:len(tail)] != [] and tail[-1] in chunk.content.split()[:80]
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert all(c.heading_path == ("Guide",) for c in chunks)


def test_heading_path_follows_nesting() -> None:
    body = _paragraph("x", 200)
    chunks = chunk_markdown(f"# Shop\n\n{body}\n\n## Hours\n\n{body}\n\n### Holidays\n\n{body}\n\n## Prices\n\n{body}")
    assert [c.heading_path for c in chunks] == [("Shop",), ("Shop", "Hours"), ("Shop", "Hours", "Holidays"),
                                                ("Shop", "Prices")]


def test_small_sections_merge_and_a_huge_paragraph_is_cut() -> None:
    chunks = chunk_markdown("# A\n\nshort one\n\n# B\n\nshort two\n\n# C\n\n" + _paragraph("w", 2000))
    assert "short one" in chunks[0].content and "short two" in chunks[0].content
    assert all(estimate_tokens(c.content) <= MAX_TOKENS + 100 for c in chunks)


def test_cookie_and_copyright_paragraphs_are_dropped() -> None:
    chunks = chunk_markdown("We use cookies to improve your experience.\n\nOpen daily from nine.\n\n"
                            "Copyright 2025 Acme. All rights reserved.\n\n- [Home](/)\n- [About](/about)")
    assert [c.content for c in chunks] == ["Open daily from nine."]
