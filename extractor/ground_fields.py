"""Grounding on form fields: the boxes that hold the values of a fillable PDF.

A value typed into a fillable form stands in its field's widget, not in the page text, so
:mod:`extractor.ground` looks in the fields first (:func:`field_values`). A yes/no answer
has nothing to look for as text: it is grounded on a field that says the same (a ticked
or empty check box, a signed or empty signature field, a radio group answered Yes or No,
a text field filled in or not) and whose name or label matches the answer's key
(:func:`boolean_field`: ``photo_consent`` on the box captioned "Photos of me may be used").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from extractor.forms import FormField, located_values
from extractor.pages import Box, Page

__all__ = ["FieldValue", "boolean_field", "field_values", "name_affinity"]

_YES = frozenset({"yes", "y", "true", "on", "ja", "oui", "si", "sí"})
_NO = frozenset({"no", "n", "false", "off", "nein", "non"})
_WORD = re.compile(r"[^\W_]+")
_STEM = 4  # words sharing their first 4 letters are taken as the same word (photo, photos)


@dataclass(frozen=True)
class FieldValue:
    """One value a field shows, where it shows it.

    Attributes:
        page: 1-based page number.
        value: the text (or, for a tick or a signature, the bool) the field holds.
        box: the widget that shows it.
        visible: False for a field a reader cannot see (see ``FormField.hidden``).
        field: the field.
    """

    page: int
    value: str | bool
    box: Box
    visible: bool
    field: FormField

    @property
    def shown(self) -> str:
        """The value as a reader sees it in the form."""
        if isinstance(self.value, str):
            return self.value
        if self.field.kind == "signature":
            return "signed" if self.value else "not signed"
        return "checked" if self.value else "unchecked"


def field_values(pages: Sequence[Page]) -> list[FieldValue]:
    """Every value the pages' form fields show, page by page in reading order; a tick or a
    signature also as the words the prompt writes for it (``checked``, ``not signed``)."""
    found = []
    for page in pages:
        for field in page.fields:
            for value, box in located_values(field):
                found.append(FieldValue(page.number, value, box, field.hidden is None, field))
                if isinstance(value, bool):  # as the prompt says it: "checked", "signed"
                    found.append(replace(found[-1], value=found[-1].shown))
    return found


def boolean_field(path: str, answer: bool, values: Sequence[FieldValue]) -> FieldValue | None:
    """The field that says ``answer`` and whose name or label best matches ``path``.

    Check boxes and signatures say it with their state, radio groups and combo boxes
    with a chosen Yes or No, text fields by being filled in (a typed signature; an empty
    one has no value to stand on, so a "no" is never grounded on it). A
    field whose name shares no word with the key counts only when it is the document's
    one field of its kind; visible fields before hidden ones, then reading order.
    """
    candidates = list(_saying(answer, values))
    if not candidates:
        return None
    ranked = sorted(
        candidates,
        key=lambda c: (-name_affinity(path, c[0].field), c[1], not c[0].visible),
    )
    best, _ = ranked[0]
    if name_affinity(path, best.field) > 0:
        return best
    toggles = {(v.page, v.field.name) for v in values if v.field.kind in ("checkbox", "signature")}
    return best if len(toggles) == 1 and best.field.kind in ("checkbox", "signature") else None


def _saying(answer: bool, values: Sequence[FieldValue]) -> Iterator[tuple[FieldValue, int]]:
    """The field values that say ``answer``, each with its rank (0: a tick or a signature)."""
    texts_seen: set[tuple[int, str]] = set()
    for v in values:
        field = v.field
        if isinstance(v.value, bool):
            if v.value == answer:
                yield v, 0
        elif field.kind in ("radio", "combobox") and v.value.strip().casefold() in (
            _YES if answer else _NO
        ):
            yield v, 1
        elif field.kind == "text" and answer and (v.page, field.name) not in texts_seen:
            texts_seen.add((v.page, field.name))
            yield v, 2


def name_affinity(path: str, field: FormField) -> int:
    """How many words of the answer's key (its last part) the field's name or label holds.

    Words match on their first four letters, so ``photo`` matches "Photos" and
    ``signed`` "Signature". Words under three letters are ignored.
    """
    key = re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1]
    wanted = {w[:_STEM] for w in _WORD.findall(key.casefold()) if len(w) >= 3}
    named = f"{field.name.rsplit('.', 1)[-1]} {field.label or ''}"
    have = {w[:_STEM] for w in _WORD.findall(named.casefold()) if len(w) >= 3}
    return len(wanted & have)
