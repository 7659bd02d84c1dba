"""The review page in a real headless browser (Debian's chromium through chromedriver):
boxes over the page image where the values are printed, an edit saved, read back from
``/truth`` and scored by ``extractor eval``; and a ``<script>`` seller name that never runs.

Nothing downloads a browser or a driver: both are Debian packages (.ci/run installs them)
and the driver's path is given to Selenium, so Selenium Manager is never asked.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from extractor.cli import app as cli
from extractor.service.config import ServiceConfig
from extractor.service.serving import ServiceThread
from extractor.settings import Settings
from extractor.testing import Reply, ScriptedServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
XSS_NAME = "<script>window.__pwned = 1</script>Nordlicht Bürobedarf GmbH"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
    "chromium-driver; .ci/run does)",
)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager may never reach out
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def reviewed_job(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """A running service with one finished job of the fixture invoice; (url, job, sha256)."""
    answer = {**json.loads((FIXTURES / "expected" / "invoice.json").read_text()),
              "seller_name": XSS_NAME}  # fmt: skip
    with ScriptedServer(responder=lambda _: Reply.chat(json.dumps(answer))) as provider:
        settings = Settings().with_options(provider="openai-compatible", model="m",
                                           base_url=provider.base_url)  # fmt: skip
        with ServiceThread(ServiceConfig(data=tmp_path / "data", settings=settings)) as service:
            pdf = ("march.pdf", (FIXTURES / "invoice.pdf").read_bytes())
            job = httpx.post(f"{service.url}/v1/jobs", files=[("files", pdf)],
                             data={"schema": "invoice"}).json()["id"]  # fmt: skip
            deadline = time.monotonic() + 60
            while httpx.get(f"{service.url}/v1/jobs/{job}").json()["status"] != "done":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            record = json.loads(httpx.get(f"{service.url}/v1/jobs/{job}/records").text)
            yield service.url, job, record["sha256"]


def _printed_at(text: str) -> tuple[float, float, float, float]:
    """Where ``text`` is printed on the invoice's first page, as fractions of the page
    (left, top, right, bottom), found by PDFium's own text search."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(FIXTURES / "invoice.pdf"))
    try:
        page = pdf[0]
        width, height = page.get_size()
        textpage = page.get_textpage()
        start, count = textpage.search(text).get_next()
        boxes = [textpage.get_charbox(i) for i in range(start, start + count)]
    finally:
        pdf.close()
    left, right = min(b[0] for b in boxes), max(b[2] for b in boxes)
    top, bottom = height - max(b[3] for b in boxes), height - min(b[1] for b in boxes)
    return left / width, top / height, right / width, bottom / height


def _wait(driver: Any, script: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def test_review_round_trip_in_a_browser(
    browser: Any, reviewed_job: tuple[str, str, str], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    url, job, sha = reviewed_job
    browser.get(f"{url}/review/{job}")
    browser.find_element(By.LINK_TEXT, "march.pdf").click()
    _wait(browser, "const i = document.querySelector('figure.page img');"
                   "return i && i.complete && i.naturalWidth > 0;")  # fmt: skip
    assert browser.current_url == f"{url}/review/{job}/{sha}"

    # Every value's box sits over the page image.
    image = browser.find_element(By.CSS_SELECTOR, "figure.page img").rect
    x0, y0, width, height = image["x"], image["y"], image["width"], image["height"]
    boxes = browser.find_elements(By.CSS_SELECTOR, "figure.page .box")
    assert len(boxes) >= 15  # header fields and three line items, each with a box
    for box in boxes:
        rect = box.rect
        assert rect["width"] > 0 and rect["height"] > 0
        assert x0 - 1 <= rect["x"] and rect["x"] + rect["width"] <= x0 + width + 1
        assert y0 - 1 <= rect["y"] and rect["y"] + rect["height"] <= y0 + height + 1
    # …and the total's box is where the total is printed.
    total = browser.find_element(By.CSS_SELECTOR, '.box[data-path="total_amount"]').rect
    left, top, right, bottom = _printed_at("1.468,46")
    assert total["x"] == pytest.approx(x0 + left * width, abs=0.01 * width)
    assert total["y"] == pytest.approx(y0 + top * height, abs=0.01 * height)
    assert total["x"] + total["width"] >= x0 + right * width - 1
    assert total["y"] + total["height"] >= y0 + bottom * height - 1
    assert "conf-" in (browser.find_element(By.CSS_SELECTOR, '.box[data-path="total_amount"]')
                       .get_attribute("class") or "")  # fmt: skip

    # The seller name is shown as text, and its script never ran.
    seller = browser.find_element(By.CSS_SELECTOR, 'input[data-path="seller_name"]')
    assert seller.get_attribute("value") == XSS_NAME
    assert browser.execute_script("return window.__pwned === undefined")

    # Correct the total, drop the first line item, save.
    field = browser.find_element(By.CSS_SELECTOR, 'input[data-path="total_amount"]')
    field.clear()
    field.send_keys("1500.00")
    browser.find_elements(By.CSS_SELECTOR, '[data-list="line_items"] .remove-row')[0].click()
    browser.find_element(By.CSS_SELECTOR, "#corrections button[type=submit]").click()
    _wait(browser, "return document.getElementById('save-status').dataset.saved")

    archive = zipfile.ZipFile(io.BytesIO(httpx.get(f"{url}/v1/jobs/{job}/truth").content))
    assert archive.namelist() == ["march.json"]
    truth = json.loads(archive.read("march.json"))
    assert truth["total_amount"] == 1500.0
    assert truth["seller_name"] == XSS_NAME
    assert [item["description"] for item in truth["line_items"]] == [
        "Bürostuhl ergonomisch, Modell Ostsee", "Toner schwarz TN-2420"]  # fmt: skip

    folder = tmp_path / "truth"
    archive.extractall(folder)
    results = tmp_path / "records.jsonl"
    results.write_text(httpx.get(f"{url}/v1/jobs/{job}/records").text)
    report = tmp_path / "report.json"
    run = CliRunner().invoke(cli, ["eval", str(results), "--truth", str(folder),
                                   "--json", str(report)])  # fmt: skip
    assert run.exit_code == 0, run.output
    fields = json.loads(report.read_text())["fields"]
    assert fields["total_amount"]["f1"] == 0.0 and fields["invoice_number"]["f1"] == 1.0
    assert browser.execute_script("return window.__pwned === undefined")
