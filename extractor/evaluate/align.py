"""Walk nested values by path, and pair the items of a true list with the predicted ones.

Paths come in two spellings: the *field* path the statistics use, without list indices
(``line_items.amount``), and the *indexed* path that locates one value in a document
(``line_items[2].amount``).

Items are paired greedily, most alike pair first. What an item *is* says its
description: the true item's longest free-text value (``description`` in the shipped
schemas). Two items are ranked first by the ANLS of their descriptions, and only then by
the mean match similarity of their other values (ANLS for other text, 1 or 0 for the
rest), so a matching unit price never pairs "Joghurt Banane" with "Schweinesteak". Items
whose descriptions are both given and unlike (ANLS 0) stay apart; so do items with no
description and nothing else in common. Identical items are paired up front by hashing,
so a long, mostly right list costs linear time rather than quadratic.

>>> truth = [{"description": "Widget", "amount": 10.0}, {"description": "Gadget", "amount": 3.5}]
>>> pred = [{"description": "gadget", "amount": "3,50"}, {"description": "Widgets", "amount": 9}]
>>> align_items(truth, pred, "line_items")
[(0, 1), (1, 0)]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from extractor.evaluate.matching import (
    FieldKind,
    canonical,
    field_kind,
    is_empty,
    match_value,
    normalized_anls,
)

__all__ = ["align_items", "dot_path", "index_path", "join_path", "leaves"]

_Leaf = tuple[str, str | None, Any]
_Key = tuple[tuple[str, object], ...]
_Signature = tuple[tuple[str, FieldKind], ...]


def dot_path(prefix: str, key: object) -> str:
    """``prefix.key``, or ``key`` at the top."""
    return f"{prefix}.{key}" if prefix else str(key)


def join_path(prefix: str | None, key: object) -> str | None:
    """:func:`dot_path`, keeping ``None`` (no location) as ``None``."""
    return None if prefix is None else dot_path(prefix, key)


def index_path(prefix: str | None, index: int) -> str | None:
    """``prefix[index]``, keeping ``None`` as ``None``."""
    return None if prefix is None else f"{prefix}[{index}]"


def leaves(value: object, field_path: str, path: str | None) -> Iterator[_Leaf]:
    """Every non-empty scalar inside *value*, as (field path, indexed path, value).

    >>> list(leaves({"a": {"b": 1, "c": None}, "d": [2, 3]}, "x", "x"))
    [('x.a.b', 'x.a.b', 1), ('x.d', 'x.d[0]', 2), ('x.d', 'x.d[1]', 3)]
    """
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from leaves(item, dot_path(field_path, key), join_path(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, field_path, index_path(path, index))
    elif not is_empty(value):
        yield field_path, path, value


class _Item:
    """One item's non-empty scalar values, keyed by their path inside the item."""

    __slots__ = ("_forms", "kinds", "values")

    def __init__(self, item: object, field_path: str, *, truth: bool) -> None:
        self.values: dict[str, Any] = {}
        self.kinds: dict[str, FieldKind] = {}
        self._forms: dict[tuple[str, FieldKind], object] = {}
        for leaf_field, path, value in leaves(item, field_path, ""):
            key = path or ""
            self.values[key] = value
            if truth:
                self.kinds[key] = field_kind(leaf_field, value)

    def form(self, path: str, kind: FieldKind) -> object:
        """The :func:`canonical` form of the value at *path*, read as *kind* (cached)."""
        cache_key = (path, kind)
        if cache_key not in self._forms:
            self._forms[cache_key] = canonical(kind, self.values.get(path))
        return self._forms[cache_key]

    def key(self) -> _Key:
        return tuple((path, self.form(path, kind)) for path, kind in self.signature())

    def signature(self) -> _Signature:
        return tuple(sorted(self.kinds.items()))

    def description(self) -> str | None:
        """The path of the longest free-text value: what the item is."""
        texts = [
            (len(str(self.values[p])), p) for p, k in self.kinds.items() if k is FieldKind.TEXT
        ]
        return max(texts, key=lambda entry: (entry[0], entry[1]))[1] if texts else None

    def likeness(self, path: str, kind: FieldKind, pred: _Item) -> float | None:
        """Match similarity of *pred*'s value at *path* (None when it has none)."""
        expected, guess = self.form(path, kind), pred.form(path, kind)
        if guess is None:
            return None
        if kind is FieldKind.TEXT and isinstance(expected, tuple) and isinstance(guess, tuple):
            return normalized_anls(expected[1], guess[1])
        if kind is FieldKind.CURRENCY:  # "¥" may be yen or yuan: not one canonical form
            return match_value(kind, self.values[path], pred.values[path]).similarity
        return float(expected == guess)

    def affinity(self, pred: _Item, description: str | None) -> tuple[float | None, float]:
        """(ANLS of the descriptions, mean similarity of the other values) of *pred* to this
        true item; the first is None when either side has no description."""
        text = None if description is None else self.likeness(description, FieldKind.TEXT, pred)
        others = [path for path in self.kinds if path != description]
        total = sum(self.likeness(path, self.kinds[path], pred) or 0.0 for path in others)
        return text, total / len(others) if others else 0.0


def _identical_pairs(truth: Sequence[_Item], pred: Sequence[_Item]) -> list[tuple[int, int]]:
    """Pair items whose values all normalise identically (similarity 1), in list order."""
    by_signature: dict[_Signature, dict[_Key, list[int]]] = {}
    pairs: list[tuple[int, int]] = []
    for i, item in enumerate(truth):
        if not item.kinds:
            continue
        signature = item.signature()
        if signature not in by_signature:
            index: dict[_Key, list[int]] = defaultdict(list)
            for j, guess in enumerate(pred):
                index[tuple((p, guess.form(p, k)) for p, k in signature)].append(j)
            by_signature[signature] = index
        candidates = by_signature[signature].get(item.key())
        if candidates:
            pairs.append((i, candidates.pop(0)))
    return pairs


def align_items(
    truth: Sequence[Any], pred: Sequence[Any], field_path: str
) -> list[tuple[int, int]]:
    """Pairs ``(truth index, predicted index)``, one-to-one, sorted by truth index."""
    true_items = [_Item(item, field_path, truth=True) for item in truth]
    pred_items = [_Item(item, field_path, truth=False) for item in pred]
    pairs = _identical_pairs(true_items, pred_items)
    used_truth = {i for i, _ in pairs}
    used_pred = {j for _, j in pairs}
    scored = []
    for i, item in enumerate(true_items):
        if i in used_truth:
            continue
        description = item.description()
        for j, guess in enumerate(pred_items):
            if j in used_pred:
                continue
            text, others = item.affinity(guess, description)
            if (text is None and others > 0) or (text or 0.0) > 0:  # ANLS 0: another item
                scored.append((text or 0.0, others, i, j))
    scored.sort(key=lambda entry: (-entry[0], -entry[1], entry[2], entry[3]))
    for _, _, i, j in scored:
        if i not in used_truth and j not in used_pred:
            pairs.append((i, j))
            used_truth.add(i)
            used_pred.add(j)
    return sorted(pairs)
