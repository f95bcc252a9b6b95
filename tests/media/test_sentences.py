"""Streaming sentence chunker."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.text.sentences import SentenceChunker, ending_is_certain, split_sentences


def _stream(tokens: list[str], max_chars: int = 220) -> tuple[list[list[str]], list[str]]:
    chunker = SentenceChunker(max_chars)
    per_token = [chunker.feed(t) for t in tokens]
    return per_token, chunker.flush()


def test_sentence_is_released_at_its_terminator_when_the_ending_is_certain() -> None:
    """'Hello there.' goes to TTS with the token that ends it, not one token later with the next."""
    per_token, rest = _stream(["Hello", " there", ".", " How", " can I", " help?", " Bye"])
    assert per_token == [[], [], ["Hello there."], [], [], ["How can I help?"], []]
    assert rest == ["Bye"]


@pytest.mark.parametrize("text", ["Great!", "Really?", "We open at nine.", "Then...", "Is it?!",
                                  'He said "wait."', "(See the menu.)", "She said 'fine.'", "Yes. Done."])
def test_an_ending_is_certain_at_bangs_questions_and_dots_after_plain_words(text: str) -> None:
    """!, ? and a dot after a word of two or more letters end the sentence with nothing after them."""
    start = len(text.rstrip("\"')")) - 1
    while start > 0 and text[start - 1] in ".!?":
        start -= 1
    assert ending_is_certain(text, start, len(text))


@pytest.mark.parametrize("text", ["It costs 3.", "Ask Dr.", "Call Mr.", "See e.g.", "Mr J.", "He said \"wait.",
                                  "(See the menu.", "He said \u201cno.", "She said 'fine.", "Room 12B."])
def test_an_ending_waits_where_the_next_character_decides(text: str) -> None:
    """A number, an abbreviation, an initial or an open quote or bracket may continue: wait for one more character."""
    start = len(text) - 1
    assert not ending_is_certain(text, start, len(text))


def test_a_decimal_and_an_abbreviation_still_wait_for_the_next_token() -> None:
    """'3.' then '5' stays one number; 'Dr.' then ' Smith' stays one sentence; a closing quote joins its sentence."""
    per_token, rest = _stream(["It costs 3", ".", "5 dollars", ". Ask Dr", ".", " Smith", ". He said \"wait",
                               ".", "\"", " Ok"])
    assert per_token == [[], [], [], ["It costs 3.5 dollars."], [], [], ["Ask Dr. Smith."], [], ['He said "wait."'],
                         []]
    assert rest == ["Ok"]


def test_exclamation_question_and_newline_end_sentences() -> None:
    """!, ? and a newline each end a sentence; blank lines produce nothing."""
    assert split_sentences("Great! Is that all? Yes\n\nBye") == ["Great!", "Is that all?", "Yes", "Bye"]


def test_abbreviations_and_decimals_do_not_split() -> None:
    """Dr., e.g. and 3.5 stay inside their sentence, even when split across tokens."""
    tokens = ["Dr", ". Smith", " charges 3", ".", "5 dollars, e", ".g", ". for a", " cut. Then", " more"]
    per_token, rest = _stream(tokens)
    assert [s for batch in per_token for s in batch] == ["Dr. Smith charges 3.5 dollars, e.g. for a cut."]
    assert rest == ["Then more"]


def test_closing_quotes_and_ellipses_stay_with_their_sentence() -> None:
    """Terminators followed by quotes or more dots end the sentence after them."""
    assert split_sentences('He said "wait." Then... we left.') == ['He said "wait."', "Then...", "we left."]


def test_numbered_list_items_are_not_cut_after_the_number() -> None:
    """'1. Open the app' is one line, not '1.' followed by 'Open the app'."""
    assert split_sentences("Steps:\n1. Open the app\n2. Tap book") == ["Steps:", "1. Open the app", "2. Tap book"]


def test_long_run_without_terminator_is_cut_at_a_comma_then_a_space() -> None:
    """A run-on is released at max_chars, preferring a comma, else a space."""
    chunker = SentenceChunker(max_chars=30)
    out = chunker.feed("we have cuts, colours and styling for everyone in town today")
    assert out[0] == "we have cuts,"
    assert all(len(s) <= 30 for s in out + chunker.flush())
    assert split_sentences("x" * 25, max_chars=10) == ["x" * 10, "x" * 10, "x" * 5]


_alphabet = st.sampled_from(list("abc XYZ.,!?\n\t'\"0123") + ["Dr.", "e.g.", "3.5", " "])


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(_alphabet, max_size=80), cuts=st.lists(st.integers(0, 400), max_size=12),
       max_chars=st.integers(5, 60))
def test_output_concatenates_back_to_input_modulo_whitespace(pieces: list[str], cuts: list[int],
                                                            max_chars: int) -> None:
    """However the text is tokenised, the sentences hold exactly its non-space characters, in order."""
    text = "".join(pieces)
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    tokens = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    per_token, rest = _stream(tokens, max_chars)
    sentences = [s for batch in per_token for s in batch] + rest
    assert "".join("".join(sentences).split()) == "".join(text.split())
    assert all(s and s == s.strip() and len(s) <= max_chars for s in sentences)


@settings(max_examples=100, deadline=None)
@given(words=st.lists(st.text("abcdefg", min_size=1, max_size=8), min_size=1, max_size=40))
def test_token_boundaries_do_not_change_the_result(words: list[str]) -> None:
    """Feeding one character at a time gives the same sentences as feeding the whole text."""
    text = ". ".join(" ".join(words[i : i + 3]) for i in range(0, len(words), 3)) + "."
    per_char, rest = _stream(list(text))
    assert [s for batch in per_char for s in batch] + rest == split_sentences(text)
