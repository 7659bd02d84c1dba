"""Ground stage: where on which page does each extracted value stand?

Every scalar of the answer (nested dicts and lists walked; booleans and nulls skipped) is
looked up in the pages' text runs and gets a :class:`Grounding` with one status:

- ``exact``: the value's own characters, case included (a number in its plain form:
  ``1468.46``, or ``12`` for ``12.0``). Case-insensitive matches count as normalized, so
  exact always means character for character.
- ``normalized``: a usual printed form, as :mod:`extractor.formats` prints it (the forms
  evaluation reads back): ``1.468,46`` / ``1,468.46`` / ``1 468,46`` (trailing zeros up to
  4 decimals: ``86,5500``), ISO dates as ``15.03.2024`` / ``03/15/2024`` / ``15 March 2024``
  / ``15. März 2024`` / …, ids without their spaces (``DE89 3704 …``), currency codes as
  their symbols or names (``€``, ``RM``) and back, other case/spacing.
- ``fuzzy``: text of 4+ characters (not dates or numbers) whose best approximate substring
  has a normalised Levenshtein similarity of at least 0.8.
- ``form_field``: the value a form field holds (a fillable PDF), exactly or in a usual
  form; the box is the field's widget. A value is looked for in the fields first, since
  a radio button's caption is printed beside every option but ticked in one. A yes/no
  answer is grounded on a field that says the same and whose name or label matches its
  key (a check box, a signature, a Yes/No radio group: :mod:`extractor.ground_fields`);
  other booleans are not grounded.
- ``hidden_only``: found only in text (or a form field) a reader cannot see; ``not_found``.

Numbers must stand alone: ``12`` is not found inside ``12.03.2024``, ``2.500`` or ``A12``.
Where a value stands in several places: visible before hidden, exact before normalized, then
the first place read (page, top, left). A value of a nested object or list item is placed
nearest its uniquely found sibling (the quantity on its line item's row, not the ``12`` of
the street address) and not where a sibling already stands (unit price and equal amount).

Example:
    >>> from extractor.pages import Page, TextRun
    >>> page = Page(1, 600, 800, runs=(TextRun("Total: 1.468,46 €", (50, 100, 200, 110)),))
    >>> g = ground({"total": 1468.46}, [page])["total"]
    >>> g.status, g.page, g.text, g.confidence
    ('normalized', 1, '1.468,46', 0.85)
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, Literal, cast

from pydantic import BaseModel, ValidationInfo, create_model, model_validator

from extractor import formats, fuzzy
from extractor.ground_fields import FieldValue, boolean_field, field_values
from extractor.labels import has_label, label_words
from extractor.pages import Box, Page, TextRun

__all__ = [
    "Grounding",
    "Status",
    "field_confidence",
    "ground",
    "grounded_model",
    "require_grounding_feedback",
]

Status = Literal["exact", "normalized", "fuzzy", "form_field", "not_found", "hidden_only"]
FUZZY_MIN = 0.8

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMERIC = re.compile(r"-?\d+(\.\d+)?")
_TIME = re.compile(r"\d{1,2}:\d{2}(?!\d)")
_DASHES = dict.fromkeys(map(ord, "‐‑‒–—−"), "-") | dict.fromkeys(map(ord, "‘’‚′"), "'")
_GROUP = ".,'\u00a0\u202f"  # characters that may join the digit groups of one number


@dataclass(frozen=True)
class Grounding:
    """Where one extracted value stands: ``page`` (1-based), ``text`` (the span as printed).

    ``box`` is ``(x0, top, x1, bottom)`` in page units, top-left origin (None when not found
    or on plain-text pages); a span inside a run is cut from the run's box in proportion to
    rough glyph widths, a span over runs of one line gets their union. ``occurrences``
    counts distinct places (visible ones; hidden ones for ``hidden_only``; 1 when fuzzy).
    ``similarity`` is 1.0 unless fuzzy; ``confidence`` is :func:`field_confidence`.
    """

    value: Any
    status: Status
    page: int | None = None
    text: str | None = None
    box: Box | None = None
    occurrences: int = 0
    similarity: float = 0.0
    confidence: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The JSON-safe form that goes into a record."""
        box = None if self.box is None else [round(v, 2) for v in self.box]
        return {"status": self.status, "page": self.page, "text": self.text, "box": box,
                "occurrences": self.occurrences, "similarity": round(self.similarity, 3),
                "confidence": round(self.confidence, 3)}  # fmt: skip


def field_confidence(grounding: Grounding, *, repaired: bool) -> float:
    """A heuristic confidence for one field from honest signals, not a calibrated probability.

    Exact and form field 0.95, normalized 0.85, fuzzy 0.6 × similarity, hidden only 0.2,
    not found 0.1; 0.1 less when the answer needed a repair round. Use it to rank fields
    for review.
    """
    base = {"exact": 0.95, "normalized": 0.85, "fuzzy": 0.6 * grounding.similarity,
            "form_field": 0.95, "hidden_only": 0.2, "not_found": 0.1}[grounding.status]  # fmt: skip
    return round(min(1.0, max(0.0, base - (0.1 if repaired else 0.0))), 4)


def require_grounding_feedback(groundings: dict[str, Grounding]) -> list[str]:
    """Repair messages for the values that stand nowhere a reader can see."""
    messages = []
    for path, g in groundings.items():
        shown = json.dumps(g.value, ensure_ascii=False, default=str)
        if g.status == "not_found":
            messages.append(f"`{path}` {shown} does not appear in the document")
        elif g.status == "hidden_only":
            messages.append(f"`{path}` {shown} appears only in hidden text on page {g.page}, "
                            "which a reader cannot see; use what the page shows")  # fmt: skip
    return messages


_GROUNDED: dict[type[BaseModel], type[BaseModel]] = {}


def grounded_model(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` plus a validator that fails when a value stands nowhere in the pages.

    The pages come from the validation context (``{"pages": [...]}``), so the failure
    reaches the model through the ordinary repair loop as feedback it can act on.
    """
    if model not in _GROUNDED:

        def check(self: BaseModel, info: ValidationInfo) -> BaseModel:
            pages = (info.context or {}).get("pages")
            if pages:
                feedback = require_grounding_feedback(ground(self.model_dump(mode="json"), pages))
                if feedback:
                    raise ValueError("; ".join(feedback))
            return self

        validators = cast(dict[str, Any], {"grounded": model_validator(mode="after")(check)})
        _GROUNDED[model] = create_model(model.__name__, __base__=model, __validators__=validators)
    return _GROUNDED[model]


def ground(
    data: dict[str, Any], pages: Sequence[Page], *, repaired: bool = False
) -> dict[str, Grounding]:
    """Locate every scalar of ``data`` on ``pages``; keys are paths like ``line_items[0].amount``.

    ``repaired`` (the answer needed a repair round) lowers every confidence by 0.1.
    """
    texts = [text for page in pages for text in _page_texts(page)]
    values = field_values(pages)
    fields = [_field_text(i, v) for i, v in enumerate(values, 1) if isinstance(v.value, str)]
    found = [(path, value, _locate_with_fields(value, texts, fields))
             for path, value in _leaves(data, "")
             if not isinstance(value, bool) and str(value).strip()]  # fmt: skip
    anchors: dict[str, _Match] = {}  # per parent object: its longest value found in one place
    for path, _, matches in found:
        if len(matches) == 1 and matches[0].visible and matches[0].box and _parent(path):
            old = anchors.get(_parent(path))
            if old is None or len(matches[0].text) > len(old.text):
                anchors[_parent(path)] = matches[0]
    result: dict[str, Grounding] = {}
    taken: dict[str, set[tuple[int, int, int]]] = {}  # places the siblings already stand on
    by_place = {(t.page, t.visible): t for t in texts}
    titles = {i: v.field.title for i, v in enumerate(values, 1)}
    for path, value, matches in found:
        parent = _parent(path)
        used = taken.setdefault(parent, set()) if parent else set()
        words = () if parent else label_words(path)
        labelled = {id(m) for m in matches if words and _labelled(m, by_place, titles, words)}
        best = _choose(matches, anchors.get(parent), used, labelled)
        if best is None:
            g = Grounding(value, "not_found")
        else:
            used.add((best.page, best.source, best.start))
            g = Grounding(value, _status(best), best.page, best.text, best.box, len(matches),
                          best.similarity)  # fmt: skip
        result[path] = replace(g, confidence=field_confidence(g, repaired=repaired))
    booleans = [(p, v) for p, v in _leaves(data, "") if isinstance(v, bool)] if values else []
    for path, answer in booleans:
        on = boolean_field(path, answer, values)
        if on is not None:
            g = Grounding(answer, "form_field" if on.visible else "hidden_only", on.page,
                          on.shown, on.box, 1, 1.0)  # fmt: skip
            result[path] = replace(g, confidence=field_confidence(g, repaired=repaired))
    return result


def _status(match: _Match) -> Status:
    if not match.visible:
        return "hidden_only"
    return "form_field" if match.source and match.tier < 2 else _TIERS[match.tier]


def _leaves(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every non-null value under ``node`` that is neither an object nor a list, by path."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _leaves(child, f"{path}.{key}" if path else str(key))
    elif isinstance(node, (list, tuple)):
        for index, child in enumerate(node):
            yield from _leaves(child, f"{path}[{index}]")
    elif node is not None:
        yield path, node


def _parent(path: str) -> str:
    return path[: max(path.rfind("."), path.rfind("["), 0)]


# -- searchable page text -------------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    text: str
    index: tuple[int, ...]  # view character → source character


@dataclass(frozen=True)
class _Text:
    """The visible (or hidden) runs of a page joined, each character knowing its run."""

    page: int
    visible: bool
    boxed: bool
    runs: tuple[TextRun, ...]
    text: str
    where: tuple[tuple[int, int], ...]  # (run, offset) per character; run -1 for separators
    folded: _View  # NFKC, case-folded, dashes unified, whitespace collapsed
    compact: _View  # folded without any whitespace
    source: int = 0  # 0: the page's text; k > 0: the value of the k-th form field


def _page_texts(page: Page) -> Iterator[_Text]:
    runs = page.runs or ((TextRun(page.text, (0.0, 0.0, 0.0, 0.0)),) if page.text else ())
    for visible in (True, False):
        chosen = tuple(r for r in runs if r.visible == visible and r.text.strip())
        if chosen:
            yield _join(page.number, visible, bool(page.runs), chosen)


def _join(page: int, visible: bool, boxed: bool, runs: tuple[TextRun, ...]) -> _Text:
    chars: list[str] = []
    where: list[tuple[int, int]] = []
    for k, run in enumerate(runs):
        if k:  # runs of one line are joined by a space (if they lack one), lines by \n
            sep = "\n" if boxed and not _same_line(runs[k - 1].box, run.box) else " "
            if sep == "\n" or not (chars[-1].isspace() or run.text[0].isspace()):
                chars.append(sep)
                where.append((-1, -1))
        chars.extend(run.text)
        where.extend((k, i) for i in range(len(run.text)))
    text = "".join(chars)
    return _Text(page, visible, boxed, runs, text, tuple(where), _view(text, compact=False),
                 _view(text, compact=True))  # fmt: skip


def _field_text(source: int, value: FieldValue) -> _Text:
    """A form field's value as a text of its own, its box the field's widget."""
    text = _join(value.page, value.visible, True, (TextRun(str(value.value), value.box),))
    return replace(text, source=source)


def _same_line(a: Box, b: Box) -> bool:
    return min(a[3], b[3]) - max(a[1], b[1]) > 0.5 * min(a[3] - a[1], b[3] - b[1])


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().translate(_DASHES)


@functools.lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    """:func:`_fold` of one character, any whitespace as a plain space (cached: pages
    repeat few distinct characters, and views fold every one of them)."""
    return "".join(" " if c.isspace() else c for c in _fold(ch))


def _view(text: str, *, compact: bool) -> _View:
    if text.isascii():
        return _ascii_view(text, compact=compact)
    chars: list[str] = []
    index: list[int] = []
    spaced = True  # leading whitespace is dropped, runs of it collapse to one space
    for i, ch in enumerate(text):
        for c in _fold_char(ch):
            if c == " ":
                if compact or spaced:
                    continue
                spaced = True
            else:
                spaced = False
            chars.append(c)
            index.append(i)
    return _View("".join(chars), tuple(index))


def _ascii_view(text: str, *, compact: bool) -> _View:
    """:func:`_view` for ASCII text, where folding is lower-casing one character for one
    (most pages; the general path folds each character through NFKC)."""
    lower = text.lower()
    index = [
        i for i, ch in enumerate(lower)
        if not ch.isspace() or not (compact or i == 0 or lower[i - 1].isspace())
    ]  # fmt: skip
    folded = "".join(" " if lower[i].isspace() else lower[i] for i in index)
    if folded.startswith(" "):  # leading whitespace is dropped, as on the general path
        folded, index = folded[1:], index[1:]
    return _View(folded, tuple(index))


def _width(ch: str) -> float:
    """Rough glyph width in ems (Helvetica-like), to place a span inside its run's box."""
    if ch.isspace() or ch in "iljIftr.,:;'|!()[]-/·":
        return 0.29
    return 0.85 if ch in "mwMW@%" else 0.556 if ch.isdigit() else 0.68 if ch.isupper() else 0.52


@functools.lru_cache(maxsize=4096)
def _edges(text: str) -> tuple[float, ...]:
    """Where each character of a run starts, in ems (the last entry: the run's width);
    cached, as a page's runs are measured once for all the values found in them."""
    return tuple(itertools.accumulate((_width(c) for c in text), initial=0.0))


def _span_box(t: _Text, start: int, end: int) -> Box | None:
    if not t.boxed:
        return None
    spans: dict[int, tuple[int, int]] = {}
    for k, off in t.where[start:end]:
        if k >= 0:
            lo, hi = spans.get(k, (off, off))
            spans[k] = (min(lo, off), max(hi, off + 1))
    boxes = []
    for k, (lo, hi) in spans.items():
        edges = _edges(t.runs[k].text)
        total = edges[-1] or 1.0
        x0, top, x1, bottom = t.runs[k].box
        a, b = edges[lo] / total, edges[hi] / total
        boxes.append((x0 + (x1 - x0) * a, top, x0 + (x1 - x0) * b, bottom))
    x0s, tops, x1s, bottoms = zip(*boxes, strict=True)
    return min(x0s), min(tops), max(x1s), max(bottoms)


# -- what to look for -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Needle:
    tier: int  # 0 exact, 1 normalized
    view: Literal["raw", "folded", "compact"]
    text: str
    strict: bool = False  # an integer: letters may not touch it either ("A4" is not 4)
    timed: bool = False  # a date: a time may follow without a space (OCR: "30-06-201822:16")


def _needles(value: Any) -> tuple[list[_Needle], str | None]:
    """The forms to look for, and the pattern for fuzzy matching (None: no fuzzy)."""
    if isinstance(value, (int, float, Decimal)):
        return _number_needles(value), None
    text = " ".join(str(value).split())
    day = _iso_date(text)
    if day is not None:
        forms = [_Needle(1, "folded", _fold(f), strict=f.isdigit(), timed=True)
                 for f in formats.date_forms(day)]  # fmt: skip
        return [_Needle(0, "raw", text, timed=True), *forms], None
    needles = [_Needle(0, "raw", text), _Needle(1, "folded", _fold(text))]
    compact = _view(text, compact=True).text
    if len(compact) >= 4:  # ids printed in groups; shorter ones would match anywhere
        needles.append(_Needle(1, "compact", compact))
    if text.upper() in formats.CURRENCIES:  # a code: look for its symbols and names too
        needles += [_Needle(1, "folded", _fold(f)) for f in formats.CURRENCIES[text.upper()]]
    else:  # a symbol or name: look for the codes it stands for
        needles += [_Needle(1, "folded", c.casefold()) for c in formats.currency_codes(text)]
    if _NUMERIC.fullmatch(text):  # a number sent as a string: its printed forms, no fuzzy
        return needles + [replace(n, tier=1) for n in _number_needles(Decimal(text))], None
    return needles, _fold(text) if len(_fold(text)) >= 4 else None


def _number_needles(value: int | float | Decimal) -> list[_Needle]:
    number = formats.to_decimal(value)
    if number is None:
        return []
    exact = formats.plain_forms(number)
    forms = formats.amount_forms(number)
    if number < 0:  # a discount is often printed without its sign ("Rabatt 12,50")
        forms |= formats.amount_forms(-number)
    strict = number == number.to_integral_value()  # "A4" is no place for 4
    normalized = [_Needle(1, "raw", f, strict and not {",", "."} & set(f)) for f in forms - exact]
    return [_Needle(0, "raw", f, strict) for f in exact] + normalized


def _iso_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if _ISO_DATE.fullmatch(text) else None
    except ValueError:
        return None


# -- finding it -----------------------------------------------------------------------------

_TIERS: tuple[Status, ...] = ("exact", "normalized", "fuzzy")


@dataclass(frozen=True)
class _Match:
    tier: int  # index into _TIERS
    visible: bool
    page: int
    start: int
    end: int
    text: str
    box: Box | None
    similarity: float = 1.0
    source: int = 0  # as _Text.source


def _glued(a: str, b: str, strict: bool) -> bool:
    same = (a.isdigit() and b.isdigit()) or (a.isalpha() and b.isalpha())
    return same or (strict and a.isalnum() and b.isalnum())


def _clear_edges(text: str, start: int, end: int, needle: _Needle) -> bool:
    """The span is not part of a longer word or number (``12`` inside ``12.03.2024``), but
    a date may touch the time after it (``30-06-201822:16:06``)."""
    strict = needle.strict
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    if needle.timed and after.isdigit() and _TIME.match(text, end):
        after = " "
    if _glued(before, text[start], strict) or _glued(text[end - 1], after, strict):
        return False
    if text[start].isdigit() and before in _GROUP and text[max(start - 2, 0)].isdigit():
        return False
    return not (text[end - 1].isdigit() and after in _GROUP and text[end + 1 : end + 2].isdigit())


def _find(t: _Text, needle: _Needle) -> Iterator[_Match]:
    view = {"raw": None, "folded": t.folded, "compact": t.compact}[needle.view]
    hay, size = (t.text if view is None else view.text), len(needle.text)
    i = hay.find(needle.text) if size else -1
    while i >= 0:
        start, end = (i, i + size) if not view else (view.index[i], view.index[i + size - 1] + 1)
        if _clear_edges(t.text, start, end, needle):
            box = t.runs[0].box if t.source else _span_box(t, start, end)  # a field: its widget
            yield _Match(needle.tier, t.visible, t.page, start, end, t.text[start:end], box,
                         source=t.source)  # fmt: skip
        i = hay.find(needle.text, i + 1)


def _locate_with_fields(value: Any, texts: list[_Text], fields: list[_Text]) -> list[_Match]:
    """Where a value stands, best first: a visible form field holding it (exactly or in a
    usual form), the page's visible text, a visible field holding it approximately, then
    hidden text and hidden fields."""
    if not fields:
        return _locate(value, texts)
    in_fields = _locate(value, [t for t in fields if t.visible])
    if in_fields and in_fields[0].tier < 2:
        return in_fields
    found = _locate(value, texts)
    if found and found[0].visible:
        return found
    if in_fields:
        return in_fields
    return found or _locate(value, [t for t in fields if not t.visible])


def _locate(value: Any, texts: list[_Text]) -> list[_Match]:
    """Every place of the best class there is: visible exact or normalized, visible fuzzy,
    then the same in hidden text. One match per place: the better tier where they overlap."""
    needles, pattern = _needles(value)
    for visible in (True, False):
        chosen = [t for t in texts if t.visible == visible]
        found = sorted((m for t in chosen for n in needles for m in _find(t, n)),
                       key=lambda m: (m.page, m.source, m.start, m.tier))  # fmt: skip
        places: list[_Match] = []
        for m in found:
            last = places[-1] if places else None
            if last and (last.page, last.source) == (m.page, m.source) and m.start < last.end:
                places[-1] = min(places[-1], m, key=lambda x: x.tier)
            else:
                places.append(m)
        if places:
            return places
        fuzzy = [m for m in (_fuzzy(t, pattern) for t in chosen) if m] if pattern else []
        if fuzzy:
            return [max(fuzzy, key=lambda m: m.similarity)]
    return []


def _labelled(
    m: _Match,
    by_place: dict[tuple[int, bool], _Text],
    titles: dict[int, str],
    words: tuple[str, ...],
) -> bool:
    """Whether a label naming the field stands before the match on its line, or on the
    line above (a total where "Total" is printed, not where the same number is a line's);
    for a form field's value, whether the field's label names it."""
    if m.source:
        return has_label(titles[m.source], words)
    text = by_place[(m.page, m.visible)].text
    line_start = text.rfind("\n", 0, m.start) + 1
    above_start = text.rfind("\n", 0, max(line_start - 1, 0)) + 1
    return has_label(text[line_start : m.start], words) or (
        line_start > 0 and has_label(text[above_start : line_start - 1], words)
    )


def _choose(
    matches: list[_Match], anchor: _Match | None, used: set[Any], labelled: set[int]
) -> _Match | None:
    """Free places first; then, for a field that documents label, a place beside its
    label; then the better tier and the first place read, except that near the anchor
    (same page, about the same line) comes before the tier where there is one."""

    def rank(m: _Match) -> tuple[Any, ...]:
        top, left = (m.box[1], m.box[0]) if m.box else (0.0, 0.0)
        first = ((m.page, m.source, m.start) in used, id(m) not in labelled)
        if anchor is None or anchor.box is None or m.box is None:
            return (*first, m.tier, m.page, top, left, m.start)
        height = max(anchor.box[3] - anchor.box[1], 1.0)
        distance = abs(m.box[1] + m.box[3] - anchor.box[1] - anchor.box[3]) / 2
        near = (m.page != anchor.page, 0.0 if distance < height else distance)
        return (*first, *near, m.tier, m.page, top, left, m.start)

    return min(matches, key=rank, default=None)


# -- fuzzy -----------------------------------------------------------------------------------


def _fuzzy(t: _Text, pattern: str) -> _Match | None:
    span = fuzzy.best_span(pattern, t.folded.text, FUZZY_MIN)
    if span is None:
        return None
    start, stop = t.folded.index[span.start], t.folded.index[span.end - 1] + 1
    box = t.runs[0].box if t.source else _span_box(t, start, stop)
    return _Match(2, t.visible, t.page, start, stop, t.text[start:stop], box, span.similarity,
                  t.source)  # fmt: skip
