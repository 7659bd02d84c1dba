"""Currency codes, IBANs and VAT ids: validity, and finding them in real invoice text."""

from __future__ import annotations

import doctest
import json
import string
from pathlib import Path

import pytest

import extractor.identifiers
from extractor.identifiers import (
    CURRENCY_CODES,
    IBAN_FORMATS,
    VAT_FORMATS,
    compact,
    currency_minor_units,
    find_ibans,
    find_vat_ids,
    iban_problem,
    is_currency_code,
    is_valid_iban,
    is_valid_vat_id,
    vat_id_problem,
)
from extractor.load import load
from extractor.pages import PageOptions, read_pages

EVAL_INVOICES = Path(__file__).resolve().parents[2] / "shared" / "eval" / "invoices"

# The 27 member states by their VAT prefix (Greece: EL).
EU_MEMBER_STATES = set(
    "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()  # noqa: SIM905
)


def test_module_examples_run() -> None:
    assert doctest.testmod(extractor.identifiers).failed == 0


# -- currencies -------------------------------------------------------------------------


def test_currency_list_is_iso_4217_list_one() -> None:
    assert len(CURRENCY_CODES) == 178
    assert {"EUR", "USD", "GBP", "INR", "CHF", "JPY", "XCG", "ZWG", "SLE", "VED"} <= CURRENCY_CODES
    # withdrawn codes: Croatian kuna (2023), Netherlands Antillean guilder (2025), old leone
    assert not {"HRK", "ANG", "SLL", "ZWL", "CUC", "DEM", "FRF"} & CURRENCY_CODES
    assert all(len(c) == 3 and c.isupper() and c.isalpha() for c in CURRENCY_CODES)


@pytest.mark.parametrize(
    ("code", "valid"),
    [("EUR", True), (" USD ", True), ("eur", False), ("€", False), ("EURO", False), ("XYZ", False)],
)
def test_is_currency_code(code: str, valid: bool) -> None:
    assert is_currency_code(code) is valid


def test_minor_units() -> None:
    assert [currency_minor_units(c) for c in ("EUR", "JPY", "KWD", "CLF", None, "eur")] == [
        2, 0, 3, 4, 2, 2,
    ]  # fmt: skip


# -- IBAN -------------------------------------------------------------------------------

VALID_IBANS = [
    "NL50INGB0683251309",  # printed on the coolblue invoices
    "DE02120300000000202051",  # XRechnung samples
    "DE91100000000123456789",
    "DE88 2008 0000 0970 3757 00",  # Mustang samples, grouped as printed
    "FR2012421242124212421242124",  # Factur-X samples
    "FR76 1010 7002 4500 6170 5231 739",
    "GB82 WEST 1234 5698 7654 32",  # the ISO 13616 / SWIFT registry examples
    "BE68 5390 0754 7034",
    "NO93 8601 1117 947",
    "CH93 0076 2011 6238 5295 7",
    "MT84 MALT 0110 0001 2345 MTLC AST0 01S",
]

INVALID_IBANS = {
    "DE12 1234 5678 9012 3456 78": "check digits",  # sample invoices print these
    "DE75123456780000001234": "check digits",
    "DE12 1234 4321 9876 00": "18 characters, DE IBANs have 22",
    "DE5467894567876500": "18 characters",
    "US1234567890": "US is not a country with IBANs",  # a US account number
    "NL50 1NGB 0683 2513 09": "structure",  # digit 1 where the bank code has letters
    "IBAN": "not an IBAN",
    "": "not an IBAN",
}


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_valid_ibans(iban: str) -> None:
    assert iban_problem(iban) is None and is_valid_iban(iban)


@pytest.mark.parametrize(("iban", "reason"), INVALID_IBANS.items())
def test_invalid_ibans_say_why(iban: str, reason: str) -> None:
    problem = iban_problem(iban)
    assert problem is not None and reason in problem
    assert not is_valid_iban(iban)


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_every_single_character_slip_is_caught(iban: str) -> None:
    # ISO 7064 MOD 97-10 detects every single substituted digit, the commonest misreading.
    value = compact(iban)
    for position in range(2, len(value)):
        if not value[position].isdigit():
            continue
        for replacement in string.digits:
            if replacement != value[position]:
                slipped = value[:position] + replacement + value[position + 1 :]
                assert not is_valid_iban(slipped), slipped


def test_registry_lengths() -> None:
    lengths = {compact(iban)[:2]: len(compact(iban)) for iban in VALID_IBANS}
    assert lengths == {"NL": 18, "DE": 22, "FR": 27, "GB": 22, "BE": 16, "NO": 15, "CH": 21,
                       "MT": 31}  # fmt: skip
    assert len(IBAN_FORMATS) == 89 and "US" not in IBAN_FORMATS


# -- VAT ids ----------------------------------------------------------------------------

VALID_VAT_IDS = [
    "DE136695976",
    "DE 232 446 240",  # as printed on the QualityHosting invoice
    "NL810433941B01",
    "FR60421938861",  # Free SAS: key 60 matches SIREN 421 938 861
    "FR 11 999 999 998",
    "FR40303265045",
    "FRK7399859412",  # new-style key with a letter: format only
    "GB999999999",
    "GB 123 4567 89 012",  # branch trader, 12 digits
    "GBGD001",
    "XI123456789",
    "ATU57194903",
    "BE0417497106",
    "BE 0202.239.951",
    "CHE-116.281.710 MWST",
    "CHE116281710",
    "NO 923 609 016 MVA",
    "IE6433435F",
    "IE8D79739I",
    "ESA28015865",
    "EL094014201",
    "GR094014201",  # printed with the ISO prefix instead of EL: accepted
    "SE556012345601",
    "PL5260250274",
    "IT00743110157",
    "CY10259033P",
    "RO18547290",
]

INVALID_VAT_IDS = {
    "DE12345678": "DE format",  # 8 digits
    "DE 123 456 7890": "DE format",
    "NL810433941": "NL format",  # without the B01 suffix
    "FR61421938861": "French key",
    "BE0417497107": "Belgian check digits",
    "ATU1234567": "AT format",
    "US123456789": "known country prefix",
    "123456789": "known country prefix",
    "SE556012345602": "SE format",
    "GBHA123": "GB format",  # HA numbers are 500-999
    "CHE-116.281.710 VAT": "CH format",
}


@pytest.mark.parametrize("vat_id", VALID_VAT_IDS)
def test_valid_vat_ids(vat_id: str) -> None:
    assert vat_id_problem(vat_id) is None and is_valid_vat_id(vat_id)


@pytest.mark.parametrize(("vat_id", "reason"), INVALID_VAT_IDS.items())
def test_invalid_vat_ids_say_why(vat_id: str, reason: str) -> None:
    problem = vat_id_problem(vat_id)
    assert problem is not None and reason in problem
    assert not is_valid_vat_id(vat_id)


def test_every_eu_member_state_and_the_common_others_have_a_format() -> None:
    assert set(VAT_FORMATS) == EU_MEMBER_STATES | {"XI", "GB", "CH", "NO"}
    assert len(EU_MEMBER_STATES) == 27


# -- finding them in text ---------------------------------------------------------------

MUSTANG_FOOTER = (
    "Bei Spiel GmbH\nEcke 12\nUSt-ID: DE136695976\nIBAN DE88 2008 0000 0970 3757 00\n"
    "BIC COBADEFFXXX\nCommerzbank Frankfurt\nKontoinhaber: Max Mustermann"
)


def test_find_ibans_as_printed() -> None:
    [found] = find_ibans(MUSTANG_FOOTER)
    assert found.value == "DE88200800000970375700"
    assert found.printed == "DE88 2008 0000 0970 3757 00"
    assert MUSTANG_FOOTER[found.start : found.end] == found.printed


def test_find_ibans_ignores_lookalikes() -> None:
    # A customer login on the free_fiber invoice has an IBAN's shape but not its checksum.
    text = "alexis@via.ecp.fr\nFO10479674 10577874\nde Lattre Alexis"
    assert find_ibans(text) == []
    assert [f.value for f in find_ibans(text, checked=False)] == ["FO1047967410577874"]
    # Too long, glued to more digits, or lower case: not an IBAN.
    assert find_ibans("DE88 2008 0000 0970 3757 001") == []
    assert find_ibans("ref DE882008000009703757001") == []
    assert find_ibans("de88 2008 0000 0970 3757 00") == []
    # Two in a row, one grouped by hyphens.
    two = find_ibans("NL50INGB0683251309 / BE68-5390-0754-7034.")
    assert [f.value for f in two] == ["NL50INGB0683251309", "BE68539007547034"]


def test_find_vat_ids_as_printed() -> None:
    text = "Steuernr. 201/113/40209\nUSt.-Id.-Nr.: DE 232 446 240\nDE 80333 München"
    [found] = find_vat_ids(text)
    assert (found.value, found.printed) == ("DE232446240", "DE 232 446 240")
    assert [f.value for f in find_vat_ids("BTW NL810433941B01 KvK 24240381")] == ["NL810433941B01"]
    assert [f.printed for f in find_vat_ids("UID: CHE-116.281.710 MWST.")] == [
        "CHE-116.281.710 MWST"
    ]
    # a postcode with a country prefix, a longer number, an invalid key: nothing
    assert find_vat_ids("DE 80333 München, DE1366959761, FR61421938861") == []


def _document_text(name: str) -> str:
    pages = read_pages(load(EVAL_INVOICES / f"{name}.pdf"), PageOptions(mode="text"))
    return "\n".join(page.text for page in pages)


@pytest.mark.eval_data
@pytest.mark.skipif(not EVAL_INVOICES.is_dir(), reason="needs ../shared/eval/invoices")
def test_every_printed_truth_identifier_is_found_in_the_eval_invoices() -> None:
    checked = 0
    for path in sorted(EVAL_INVOICES.glob("*.json")):
        truth = json.loads(path.read_text(encoding="utf-8"))
        iban, vat_id = truth.get("iban"), truth.get("seller_vat_id")
        if not (iban or vat_id):
            continue
        text = _document_text(path.stem)
        if iban and is_valid_iban(iban):
            assert compact(iban) in [f.value for f in find_ibans(text)], path.stem
        if vat_id:
            assert compact(vat_id) in [f.value for f in find_vat_ids(text)], path.stem
        checked += 1
    assert checked == 64
