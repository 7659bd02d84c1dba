"""Schemas that ship with extractor; name them as ``invoice``, ``receipt``, ``form`` or
``key_values``."""

from __future__ import annotations

from schemas.form import RegistrationForm
from schemas.invoice import Invoice, LineItem
from schemas.key_values import KeyValue, KeyValues
from schemas.receipt import Receipt

SHIPPED: dict[str, str] = {
    "invoice": "schemas.invoice:Invoice",
    "receipt": "schemas.receipt:Receipt",
    "form": "schemas.form:RegistrationForm",
    "key_values": "schemas.key_values:KeyValues",
}

__all__ = [
    "SHIPPED",
    "Invoice",
    "KeyValue",
    "KeyValues",
    "LineItem",
    "Receipt",
    "RegistrationForm",
]
