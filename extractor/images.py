"""Raster images: decode input frames safely, and encode page images for the model.

Pillow only *warns* between its pixel limit and twice that; here any image over the cap
is an error, so a decompression bomb becomes an error record instead of 10 GB of RAM.
"""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from extractor.errors import CorruptInput, InputTooLarge
from extractor.load import Document

__all__ = ["EncodedImage", "encode", "open_frames"]

_JPEG_QUALITY = 85


@dataclass(frozen=True, repr=False)
class EncodedImage:
    """An image ready to send: encoded bytes and their size in pixels."""

    data: bytes
    media_type: str
    width: int
    height: int

    def data_url(self) -> str:
        """The ``data:`` URL that goes into an ``image_url`` content part."""
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"

    def __repr__(self) -> str:
        return f"EncodedImage({self.media_type}, {self.width}×{self.height}, {len(self.data)} B)"


def open_frames(document: Document, max_pixels: int) -> list[Image.Image]:
    """Decode every frame of a TIFF, the first of a GIF, the only one of the rest.

    Raises:
        InputTooLarge: a frame is over ``max_pixels``.
        CorruptInput: Pillow cannot decode the bytes.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(document.data))
            _check_pixels(image, max_pixels, document.source)
            if document.media_type == "image/tiff":
                frames = [
                    _loaded(f, max_pixels, document.source) for f in ImageSequence.Iterator(image)
                ]
            else:
                frames = [_loaded(image, max_pixels, document.source)]
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputTooLarge(f"{document.source}: {exc}", path=document.source) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise CorruptInput(
            f"{document.source}: cannot decode image ({exc})", path=document.source
        ) from None
    return frames


def _check_pixels(image: Image.Image, max_pixels: int, source: str) -> None:
    if image.width * image.height > max_pixels:
        raise InputTooLarge(
            f"{source}: {image.width}×{image.height} pixels is over the {max_pixels:,}-pixel cap",
            path=source,
        )


def _loaded(frame: Image.Image, max_pixels: int, source: str) -> Image.Image:
    _check_pixels(frame, max_pixels, source)
    copy = ImageOps.exif_transpose(frame.copy())  # phone photos carry their rotation in EXIF
    if copy.mode not in ("RGB", "L"):
        copy = copy.convert("RGB")
    copy.load()
    return copy


def encode(image: Image.Image, max_side: int) -> EncodedImage:
    """Downscale to ``max_side`` on the long side and encode as JPEG.

    JPEG keeps page images small (a text page is ~150 KB at 1540 px where PNG is ~1 MB)
    and every provider accepts it.
    """
    if max(image.size) > max_side:
        ratio = max_side / max(image.size)
        size = (max(1, round(image.width * ratio)), max(1, round(image.height * ratio)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=_JPEG_QUALITY, optimize=False)
    return EncodedImage(buffer.getvalue(), "image/jpeg", image.width, image.height)
