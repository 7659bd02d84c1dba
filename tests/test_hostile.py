"""Hostile and broken inputs through the real worker pool: one classified error each, and the
pool keeps working.

Every document here is real: files written on disk (a FIFO, a directory, a truncated PDF, a
hand-made RC4-encrypted PDF, a flate bomb, a PNG decompression bomb, a gigantic page), read
by real worker processes under real memory and time limits.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from extractor.errors import (
    CorruptInput,
    EncryptedInput,
    InputError,
    InputTooLarge,
    InternalError,
)
from extractor.isolate import PagesWorkerPool, prepare_isolated
from extractor.load import Document
from extractor.pages import Page
from extractor.settings import PageOptions
from extractor.testing.pdf import PdfWriter, deflate_repeated

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TEXT = PageOptions(mode="text", ocr=False, vision=False)
VISION = PageOptions(mode="vision", ocr=False)


@pytest.fixture(scope="module")
def pool() -> Iterator[PagesWorkerPool]:
    with PagesWorkerPool(2, timeout_s=30) as shared:
        yield shared


def prepare(
    pool: PagesWorkerPool, source: str | Path | bytes, options: PageOptions = TEXT
) -> tuple[Document, list[Page]]:
    return asyncio.run(pool.prepare(source, options))


def assert_works(pool: PagesWorkerPool) -> None:
    document, pages = asyncio.run(pool.prepare(FIXTURES / "invoice.pdf", TEXT))
    assert document.media_type == "application/pdf"
    assert "RE-2024-0815" in pages[0].text


# -- documents made by hand (with the shared test writer, extractor.testing.pdf) ------------


def one_page_pdf(content: bytes, *, size: int = 612) -> bytes:
    writer = PdfWriter()
    writer.page(size, size).raw(content)
    return writer.to_bytes()


def flate_bomb_pdf(inflated_mib: int) -> bytes:
    """About ``inflated_mib / 1000`` MiB on disk; its page content inflates to ``inflated_mib``."""
    writer = PdfWriter()
    writer.page(612, 612).encoded_content(deflate_repeated(b" " * (1 << 20), inflated_mib))
    return writer.to_bytes()


def png(width: int, height: int) -> bytes:
    """A valid 1-bit grey PNG of one colour, however large, in a few hundred KB."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    rows_per_chunk = 1000
    assert height % rows_per_chunk == 0
    idat = deflate_repeated(row * rows_per_chunk, height // rows_per_chunk)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def encrypted_pdf(user_password: bytes, text: str) -> bytes:
    """A PDF encrypted with the standard security handler, revision 2 (40-bit RC4)."""
    writer = PdfWriter(user_password=user_password)
    writer.page(612, 792).text(72, 92, text, size=24)
    return writer.to_bytes()


def slow_pdf(pages: int = 400) -> bytes:
    """Hundreds of pages with text and shapes: seconds of rendering in vision mode."""
    writer = PdfWriter()
    for _ in range(pages):
        page = writer.page(612, 792)
        for _ in range(20):
            page.rect(50, 42, 500, 700, stroke=None, fill=0.5)
            page.text(72, 92, "Slow page", size=36)
    return writer.to_bytes()


# -- one classified error each -----------------------------------------------------------


def expect(pool: PagesWorkerPool, source: str | Path | bytes, error: type[InputError], code: str,
           options: PageOptions = TEXT) -> InputError:  # fmt: skip
    with pytest.raises(error) as info:
        prepare(pool, source, options)
    assert info.value.code == code
    return info.value


def test_zero_byte_file(pool: PagesWorkerPool, tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    assert "0 bytes" in str(expect(pool, path, InputError, "empty_input"))


def test_directory(pool: PagesWorkerPool, tmp_path: Path) -> None:
    folder = tmp_path / "folder.pdf"
    folder.mkdir()
    error = expect(pool, folder, InputError, "input_error")
    assert "is a directory" in str(error) and error.path == str(folder)  # type: ignore[attr-defined]


def test_fifo_named_pdf_does_not_hang(pool: PagesWorkerPool, tmp_path: Path) -> None:
    fifo = tmp_path / "x.pdf"
    os.mkfifo(fifo)
    started = time.monotonic()
    assert "not a regular file" in str(expect(pool, fifo, InputError, "unsupported_input"))
    assert time.monotonic() - started < 10  # a hang would have run into the pool's 30 s


def test_png_named_pdf_is_read_by_its_magic_bytes(pool: PagesWorkerPool, tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    shutil.copy(FIXTURES / "scan.png", path)
    document, pages = prepare(pool, path)
    assert document.media_type == "image/png" and len(pages) == 1


def test_random_bytes_named_pdf(pool: PagesWorkerPool, tmp_path: Path) -> None:
    path = tmp_path / "noise.pdf"
    path.write_bytes(bytes(range(256)) * 16)
    expect(pool, path, InputError, "unsupported_input")


def test_truncated_pdf(pool: PagesWorkerPool, tmp_path: Path) -> None:
    data = (FIXTURES / "invoice.pdf").read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(data[: len(data) // 2])
    expect(pool, path, CorruptInput, "corrupt_input")


def test_encrypted_pdf_needs_the_password(pool: PagesWorkerPool, tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    path.write_bytes(encrypted_pdf(b"secret", "Hello encrypted world"))
    assert "--password" in str(expect(pool, path, EncryptedInput, "encrypted_input"))
    wrong = replace(TEXT, password="wrong")
    assert "wrong" in str(expect(pool, path, EncryptedInput, "encrypted_input", wrong))
    _, pages = prepare(pool, path, replace(TEXT, password="secret"))
    assert pages[0].text == "Hello encrypted world"


def test_png_decompression_bomb(pool: PagesWorkerPool, tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png(30_000, 30_000))
    assert path.stat().st_size < 1_000_000
    expect(pool, path, InputTooLarge, "input_too_large")


def test_pillow_bomb_warning_is_an_error_even_under_a_raised_cap(pool: PagesWorkerPool) -> None:
    # 100 M pixels: Pillow only warns (89 M-179 M); the pixel cap is out of the way here.
    settings = replace(TEXT, max_pixels=10**9)
    error = expect(pool, png(10_000, 10_000), InputTooLarge, "input_too_large", settings)
    assert "decompression bomb" in str(error).lower()


def test_gigantic_page_hits_the_pixel_cap(pool: PagesWorkerPool) -> None:
    giant = one_page_pdf(b"0 0 m 14400 14400 l S", size=14_400)  # 200 × 200 inches
    error = expect(pool, giant, InputTooLarge, "input_too_large", VISION)
    assert "pixel cap" in str(error)


def test_crop_box_off_the_page_is_corrupt_not_internal(pool: PagesWorkerPool) -> None:
    # Found by the corpus sweep (pdfium's cropped_no_overlap.pdf): pypdfium2 raises a plain
    # ValueError when rendering it; the worker classifies it by where it was raised.
    writer = PdfWriter()
    writer.page(612, 792, extra=b"/CropBox [700 0 800 100]").line(0, 792, 10, 782)
    pdf = writer.to_bytes()
    expect(pool, pdf, CorruptInput, "corrupt_input", VISION)


def test_a_previous_documents_password_error_does_not_leak() -> None:
    locked = encrypted_pdf(b"secret", "x")
    no_pages = PdfWriter().to_bytes()
    with PagesWorkerPool(1) as pool:  # one worker: both documents go through the same PDFium
        expect(pool, locked, EncryptedInput, "encrypted_input")
        with pytest.raises(InputError) as info:
            prepare(pool, no_pages)
        assert info.value.code in ("empty_input", "corrupt_input"), info.value


def test_errors_keep_their_type_and_context(pool: PagesWorkerPool, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pdf"
    error = expect(pool, missing, InputError, "input_error")
    assert type(error) is InputError and error.path == str(missing)


def test_the_shared_pool_survived_every_case(pool: PagesWorkerPool) -> None:
    before = pool.stats
    assert_works(pool)
    assert pool.stats.documents == before.documents + 1
    assert pool.stats.crashes == pool.stats.timeouts == 0


# -- worker deaths: memory, time, crashes ---------------------------------------------------


def test_flate_bomb_over_the_memory_limit_spares_the_other_document(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(flate_bomb_pdf(600))  # 600 MiB of content from ~0.6 MB
    assert bomb.stat().st_size < 1_000_000

    async def both(pool: PagesWorkerPool) -> tuple[object, object]:
        return await asyncio.gather(
            pool.prepare(bomb, TEXT),
            pool.prepare(FIXTURES / "multipage.pdf", TEXT),
            return_exceptions=True,
        )

    with PagesWorkerPool(2, memory_bytes=300 << 20, timeout_s=30) as pool:
        error, good = asyncio.run(both(pool))
        assert isinstance(error, InputTooLarge), error
        assert "needed more than 300 MiB" in str(error)
        assert isinstance(good, tuple) and len(good[1]) == 3, good
        assert pool.stats.crashes == 1
        assert_works(pool)


def test_timeout_kills_the_worker_and_the_pool_goes_on() -> None:
    with PagesWorkerPool(1, timeout_s=0.3) as pool:
        assert_works(pool)  # the worker is up: the next document's clock starts at once
        started = time.monotonic()
        with pytest.raises(InputTooLarge, match=r"took longer than 0\.3 s to read"):
            prepare(pool, slow_pdf(), VISION)
        assert time.monotonic() - started < 5
        assert pool.stats.timeouts == 1
        assert_works(pool)
        assert pool.stats.workers_started == 2


def test_a_crashing_worker_is_a_corrupt_input_and_is_replaced() -> None:
    async def crash(pool: PagesWorkerPool) -> None:
        task = asyncio.ensure_future(pool.prepare(slow_pdf(), VISION))
        pid = await _busy_worker_pid(pool)
        os.kill(pid, signal.SIGSEGV)  # what a parser bug does to the process
        await task

    with PagesWorkerPool(1, timeout_s=30) as pool:
        with pytest.raises(CorruptInput, match=r"parsing crashed \(signal 11, SIGSEGV\)"):
            asyncio.run(crash(pool))
        assert pool.stats.crashes == 1
        assert_works(pool)


def test_cancelling_a_document_stops_its_worker_without_blaming_it() -> None:
    async def cancel(pool: PagesWorkerPool) -> None:
        await asyncio.wait_for(pool.prepare(slow_pdf(), VISION), 0.5)

    with PagesWorkerPool(1, timeout_s=30) as pool:
        assert_works(pool)
        with pytest.raises(asyncio.TimeoutError):
            asyncio.run(cancel(pool))
        assert_works(pool)
        assert pool.stats.crashes == 0 and pool.stats.workers_started == 2


_KILLED_OWNER = """
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from test_hostile import VISION, _busy_worker_pid, slow_pdf
from extractor.isolate import PagesWorkerPool

async def main():
    pool = PagesWorkerPool(1, timeout_s=600)
    task = asyncio.ensure_future(pool.prepare(slow_pdf(), VISION))
    print(await _busy_worker_pid(pool), flush=True)
    await task

asyncio.run(main())
"""


def test_workers_die_with_a_killed_owner() -> None:
    # A SIGKILLed run must not leave workers parsing on with no one enforcing their timeout.
    tests = str(Path(__file__).resolve().parent)
    owner = subprocess.Popen(
        [sys.executable, "-c", _KILLED_OWNER, tests], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        worker = int(owner.stdout.readline())
        assert _alive(worker)
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has finished


async def _busy_worker_pid(pool: PagesWorkerPool) -> int:
    for _ in range(200):
        process = pool._slots[0].process
        if process is not None and process.pid is not None and pool._slots[0].conn is not None:
            await asyncio.sleep(0.3)  # conn is set after the handshake: the job is on its way
            return process.pid
        await asyncio.sleep(0.05)
    raise AssertionError("no worker started")


# -- the pool itself ----------------------------------------------------------------------


def test_workers_are_recycled_after_max_jobs() -> None:
    with PagesWorkerPool(1, max_jobs=2) as pool:
        for _ in range(5):
            assert_works(pool)
        assert pool.stats.workers_started == 3 and pool.stats.documents == 5


def test_concurrent_documents_and_bytes_sources(pool: PagesWorkerPool) -> None:
    sources: list[str | Path | bytes] = [
        FIXTURES / "invoice.pdf", (FIXTURES / "multipage.pdf").read_bytes(), FIXTURES / "form.pdf",
        b"", FIXTURES / "receipt.jpg",
    ]  # fmt: skip

    async def all_of_them() -> list[object]:
        jobs = (pool.prepare(source, TEXT) for source in sources)
        return await asyncio.gather(*jobs, return_exceptions=True)

    results = asyncio.run(all_of_them())
    assert [len(r[1]) if isinstance(r, tuple) else r.code for r in results] == [  # type: ignore[attr-defined]
        1, 3, 1, "empty_input", 1,
    ]  # fmt: skip
    assert results[1][0].source == "<bytes>"  # type: ignore[index]


def test_prepare_isolated_one_off(tmp_path: Path) -> None:
    document, _ = prepare_isolated(FIXTURES / "invoice.pdf", TEXT)
    assert document.sha256 == hashlib.sha256((FIXTURES / "invoice.pdf").read_bytes()).hexdigest()
    with pytest.raises(InputTooLarge, match="needed more than 300 MiB"):
        prepare_isolated(flate_bomb_pdf(600), TEXT, memory_bytes=300 << 20)


def test_a_closed_pool_refuses_work() -> None:
    pool = PagesWorkerPool(1)
    pool.close()
    with pytest.raises(InternalError):
        prepare(pool, FIXTURES / "invoice.pdf")
