"""How documents label their fields: the words printed before a value that name it.

``Total``, ``Gesamtbetrag``, ``Due date``, ``IBAN``: a value that stands beside a label
naming its field is probably the one asked for, and a value taken from the wrong place
rarely has one. Grounding uses this to choose among a value's places (the total where
"Total" is printed, not where the same number is a line amount), and confidence counts it
as evidence. The words are by the words of a field's name, in the languages of the eval
sets (en, de, fr, nl, es, it).

Example:
    >>> words = label_words("total_amount")
    >>> has_label("Gesamtbetrag inkl. MwSt.", words), has_label("Nordlicht GmbH", words)
    (True, False)
"""

from __future__ import annotations

import re
from functools import cache

__all__ = ["has_label", "label_words"]

_LABELS: dict[str, tuple[str, ...]] = {
    "total": ("total", "gesamt", "summe", "endbetrag", "brutto", "montant", "totaal", "ttc",
              "importe", "amount due", "balance", "zu zahlen", "zahlbetrag",
              "rechnungsbetrag", "betrag", "te betalen"),
    "net": ("net", "netto", "subtotal", "sub-total", "subtotaal", "zwischensumme",
            "sous-total", "ht", "hors taxe", "excl", "exclusief", "warenwert", "imponibile",
            "base imponible"),
    "tax": ("tax", "vat", "mwst", "ust", "umsatzsteuer", "mehrwertsteuer", "tva", "btw",
            "iva", "gst"),
    "date": ("date", "datum", "dated", "fecha", "data", "du", "le"),
    "due": ("due", "fällig", "zahlbar", "payable", "échéance", "vervaldatum", "pay by",
            "zahlungsziel", "vencimiento", "scadenza"),
    "invoice": ("invoice", "rechnung", "facture", "factuur", "fattura", "factura", "inv",
                "bill", "beleg", "receipt", "nr", "no", "number", "nummer", "numéro", "#"),
    "iban": ("iban",),
    "vat": ("vat", "ust", "tva", "btw", "umsatzsteuer", "steuer-id", "tax id", "mwst",
            "p.iva", "nif", "cif"),
    "currency": ("currency", "währung", "devise", "valuta", "moneda"),
}  # fmt: skip


@cache
def label_words(path: str) -> tuple[str, ...]:
    """The label words of the field at ``path`` (its last name's words), or ()."""
    leaf = path.rsplit(".", 1)[-1].casefold()
    return tuple(dict.fromkeys(w for part in leaf.split("_") for w in _LABELS.get(part, ())))


def has_label(text: str, words: tuple[str, ...]) -> bool:
    """Whether ``text`` holds one of ``words`` at the start of a word (a short one, such
    as "no" or "ust", as a whole word: "Nordlicht" is not "No")."""
    folded = text.casefold()
    for word in words:
        end = r"(?![a-zäöüéèàç])" if len(word) <= 3 else ""
        if re.search(rf"(?<![a-zäöüéèàç]){re.escape(word)}{end}", folded):
            return True
    return False
