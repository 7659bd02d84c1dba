"""The byte level of `extractor.testing.pdf`: objects, xref, streams, RC4, flate bombs."""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Mapping, Sequence

__all__ = ["Rc4", "assemble", "deflate_repeated", "stream_object"]

_HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"


class Rc4:
    """The standard security handler, revision 2: a 40-bit RC4 key per object.

    Algorithms 3.1-3.5 of the PDF 1.7 reference: the owner entry O, the file key from the
    padded user password, U = RC4(key, pad), and a key per object.
    """

    _PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")
    _PERMISSIONS = -4

    def __init__(self, user: bytes, owner: bytes, doc_id: bytes) -> None:
        self.doc_id = doc_id
        self.owner = _rc4(_md5(self._padded(owner))[:5], self._padded(user))
        salt = self.owner + struct.pack("<i", self._PERMISSIONS) + doc_id
        self.key = _md5(self._padded(user) + salt)[:5]

    def _padded(self, password: bytes) -> bytes:
        return (password + self._PAD)[:32]

    def encrypt(self, number: int, data: bytes) -> bytes:
        return _rc4(_md5(self.key + struct.pack("<i", number)[:3] + b"\0\0")[:10], data)

    def info(self, number: int, info: Mapping[str, str | None]) -> bytes:
        entries = " ".join(f"/{key} <{self.encrypt(number, value.encode('cp1252')).hex()}>"
                           for key, value in info.items() if value)  # fmt: skip
        return f"<< {entries} >>".encode()

    def dictionary(self) -> bytes:
        user = _rc4(self.key, self._PAD)
        return b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>" % (
            self.owner.hex().encode(),
            user.hex().encode(),
            self._PERMISSIONS,
        )


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


def _rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) & 255
        state[i], state[j] = state[j], state[i]
    i = j = 0
    out = bytearray()
    for byte in data:
        i = (i + 1) & 255
        j = (j + state[i]) & 255
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) & 255])
    return bytes(out)


def assemble(objects: Sequence[bytes], *, root: int = 1, trailer: bytes = b"") -> bytes:
    """A PDF whose object ``i`` (1-based) is ``objects[i - 1]``, with a correct xref table.

    Args:
        objects: Object bodies, the bytes between ``N 0 obj`` and ``endobj``.
        root: The catalog's object number.
        trailer: More trailer-dictionary entries, e.g. ``b"/Encrypt 6 0 R"``.
    """
    out = bytearray(_HEADER)
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    extra = b" " + trailer if trailer else b""
    out += b"trailer\n<< /Size %d /Root %d 0 R%s >>\n" % (len(objects) + 1, root, extra)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def stream_object(data: bytes, dictionary: bytes = b"") -> bytes:
    """The body of a stream object holding ``data`` as it is (already encoded)."""
    extra = b" " + dictionary if dictionary else b""
    return b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(data), extra, data)


def deflate_repeated(chunk: bytes, count: int) -> bytes:
    """zlib data that inflates to ``chunk * count``, made in milliseconds (a flate bomb).

    After a full flush, deflate starts afresh, so every flushed copy of ``chunk``
    compresses to the same bytes: compress it twice and repeat the second block.
    """
    compressor = zlib.compressobj(9)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    if first[2:] != block:  # the first one carries the 2-byte zlib header
        raise ValueError("this zlib does not restart after a full flush")
    checksum = 1
    for _ in range(count):
        checksum = zlib.adler32(chunk, checksum)
    end = compressor.flush()[:-4]  # the final empty block; its checksum covers 2 chunks only
    return first + block * (count - 1) + end + struct.pack(">I", checksum)
