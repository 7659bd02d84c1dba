"""Approximate matching: exact where the pattern fits one chunk, a valid alignment beyond."""

from __future__ import annotations

import doctest
import random

import extractor.fuzzy
from extractor.fuzzy import CHUNK, best_span, levenshtein


def brute_best(pattern: str, text: str) -> int:
    """The least edit distance from ``pattern`` to any substring of ``text`` (empty too)."""
    return min(levenshtein(pattern, text[i:j]) for i in range(len(text) + 1)
               for j in range(i, len(text) + 1))  # fmt: skip


def test_short_patterns_get_the_best_substring_exactly() -> None:
    rng = random.Random(7)
    for _ in range(400):
        pattern = "".join(rng.choice("ab c") for _ in range(rng.randint(1, 10)))
        text = "".join(rng.choice("ab cd") for _ in range(rng.randint(0, 30)))
        span = best_span(pattern, text, 0.0)
        best = brute_best(pattern, text)
        if span is None:
            assert best == len(pattern), (pattern, text)
        else:
            assert span.distance == best == levenshtein(pattern, text[span.start : span.end])


def test_long_pattern_is_aligned_chunk_by_chunk_through_edits_at_the_boundaries() -> None:
    rng = random.Random(3)
    letters = "abcdefghijklmnopqrst"
    pattern = "".join(rng.choice(letters) for _ in range(3000))
    printed = list(pattern)
    # one edit each: at, just before and just after chunk boundaries, and mid-chunk
    for position, edit in sorted([(CHUNK - 1, "sub"), (CHUNK, "ins"), (2 * CHUNK, "del"),
                                  (2 * CHUNK + 1, "sub"), (1000, "ins"), (2999, "del")],
                                 reverse=True):  # fmt: skip
        if edit == "sub":
            printed[position] = "X"
        elif edit == "ins":
            printed.insert(position, "Y")
        else:
            del printed[position]
    before, after = "z" * 500, "z" * 700
    text = before + "".join(printed) + after
    span = best_span(pattern, text, 0.8)
    assert span is not None
    assert span.distance == 6 == levenshtein(pattern, text[span.start : span.end])
    assert span.start == len(before) and abs(span.end - (len(text) - len(after))) <= 1
    assert span.similarity == 1 - 6 / max(3000, span.end - span.start)


def test_long_pattern_below_the_threshold_or_longer_than_the_text_is_not_found() -> None:
    rng = random.Random(5)
    pattern = "".join(rng.choice("abcdefghij") for _ in range(2000))
    noisy = "".join(c if i % 4 else "#" for i, c in enumerate(pattern))  # 25 % changed
    assert best_span(pattern, noisy, 0.8) is None
    assert best_span(pattern, noisy, 0.7) is not None
    assert best_span(pattern, pattern[:1500], 0.8) is None  # cannot reach 0.8 similarity
    other = "".join(rng.choice("abcdefghij") for _ in range(2000))
    assert best_span(pattern, other, 0.8) is None


def test_levenshtein_is_symmetric_and_handles_empty_strings() -> None:
    assert levenshtein("", "") == 0 and levenshtein("abc", "") == 3 == levenshtein("", "abc")
    assert levenshtein("kitten", "sitting") == 3 == levenshtein("sitting", "kitten")


def test_docstring_examples_run() -> None:
    result = doctest.testmod(extractor.fuzzy)
    assert result.attempted >= 3 and result.failed == 0
