"""Approximate string matching: edit distance, and where a text best holds a pattern.

Both use Myers' bit-parallel algorithm (1999, in Hyyrö's formulation): one column of the
edit-distance table is a pair of bit vectors held in Python ints, so a pattern of ``m``
characters costs one step of ``m``-bit arithmetic per text character. That is linear for
a short pattern; for a long one the steps grow with it, so :func:`best_span` aligns a
long pattern chunk by chunk and stays linear in both lengths.

Example:
    >>> levenshtein("kitten", "sitting")
    3
    >>> text = "Invoice to: Lieferant GmbH, Hauptstrasse 1, Berlin"
    >>> span = best_span("Hauptstraße 1", text, 0.8)
    >>> text[span.start : span.end], round(span.similarity, 3)
    ('Hauptstrasse 1', 0.857)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["CHUNK", "Span", "best_span", "levenshtein"]

CHUNK = 256
"""Pattern characters aligned in one piece; a longer pattern is aligned piece by piece."""
_LOOKAHEAD = 16


@dataclass(frozen=True)
class Span:
    """``text[start:end]`` holds the pattern with ``distance`` edits.

    ``similarity`` is ``1 - distance / max(len(pattern), end - start)``.
    """

    start: int
    end: int
    distance: int
    similarity: float


def best_span(pattern: str, text: str, min_similarity: float) -> Span | None:
    """The substring of ``text`` closest to ``pattern``, if it is at least that similar.

    A pattern of up to :data:`CHUNK` characters gets its best span exactly. A longer one
    is placed by its first chunk, then each further chunk is aligned where the previous
    one ended (with at most one insertion per character of the chunk; where a chunk may
    end in several places at the same cost, the next characters decide). That is a valid
    alignment, so the similarity reported is never above the true one, and the work is
    linear in ``len(pattern) + len(text)``: at most ``CHUNK``-bit steps per character.
    """
    m = len(pattern)
    if not m or len(text) < min_similarity * m:  # the distance is at least m - len(text)
        return None
    budget = m - math.ceil(min_similarity * m - 1e-9)  # the most edits a match may need
    head, rest = pattern[:CHUNK], pattern[CHUNK:]
    distance, ends = _myers(head, text, False)
    if not ends or distance > budget:
        return None
    end = _settle([e for e in ends if e <= ends[0] + distance], rest, text)
    # Anchored at that end, the reversed search finds where the best span starts, and its
    # exact Levenshtein distance to the head.
    window = text[max(0, end + 1 - len(head) - distance) : end + 1][::-1]
    distance, backs = _myers(head[::-1], window, True)
    start = end - backs[0]
    for offset in range(CHUNK, m, CHUNK):
        piece, after = pattern[offset : offset + CHUNK], pattern[offset + CHUNK :]
        window = text[end + 1 : end + 1 + 2 * len(piece)]
        cost, ends = _myers(piece, window, True)
        distance, end = distance + cost, end + 1 + (_settle(ends, after, window) if ends else -1)
        if distance > budget:
            return None
    similarity = 1 - distance / max(m, end + 1 - start)
    return Span(start, end + 1, distance, similarity) if similarity >= min_similarity else None


def _settle(ends: list[int], after: str, text: str) -> int:
    """Of the ends a piece may have at the same cost, the one after which the pattern goes
    on best: a typo on a piece's last character is one substitution, not a deletion that
    leaves the next piece to skip the typo."""
    if len(ends) == 1 or not after:
        return ends[0]
    look = after[:_LOOKAHEAD]
    return min(ends, key=lambda e: _myers(look, text[e + 1 : e + 1 + 2 * len(look)], True)[0])


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions all cost 1).

    ``len(a)`` steps of ``len(b)``-bit arithmetic, the shorter string being ``b``.

    >>> levenshtein("flaw", "lawn")
    2
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    # Anchored at both ends: the distance to the whole of ``a`` is the score after its
    # last character.
    return _myers(b, a, True, whole=True)[0]


def _myers(
    pattern: str, text: str, anchored: bool, *, whole: bool = False
) -> tuple[int, list[int]]:
    """Least edit distance from ``pattern`` to a substring of ``text``, and every index
    where such a substring ends, in order (none when no substring is closer than the
    empty one: ``len(pattern)``); ``anchored``: the substring starts at ``text[0]``;
    ``whole``: it is all of ``text`` (the distance after the last character)."""
    m = len(pattern)
    full, high = (1 << m) - 1, 1 << (m - 1)
    peq: dict[str, int] = {}
    for i, ch in enumerate(pattern):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    pv, mv, score, carry = full, 0, m, int(anchored)
    best, ends = m, []
    for j, ch in enumerate(text):
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & full)
        mh = pv & xh
        score += 1 if ph & high else -1 if mh & high else 0
        ph = ((ph << 1) | carry) & full
        mh = (mh << 1) & full
        pv = mh | (~(xv | ph) & full)
        mv = ph & xv
        if score < best:
            best, ends = score, [j]
        elif score == best and ends:
            ends.append(j)
    return (score, [len(text) - 1]) if whole else (best, ends)
