"""Schemas that ship with extractor; name them as ``invoice``, ``receipt`` or ``form``."""

from __future__ import annotations

from schemas.form import RegistrationForm
from schemas.invoice import Invoice, LineItem
from schemas.receipt import Receipt

SHIPPED: dict[str, str] = {
    "invoice": "schemas.invoice:Invoice",
    "receipt": "schemas.receipt:Receipt",
    "form": "schemas.form:RegistrationForm",
}

__all__ = ["SHIPPED", "Invoice", "LineItem", "Receipt", "RegistrationForm"]
