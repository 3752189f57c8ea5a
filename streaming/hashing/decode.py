"""Decode once, as small as the requested hashes allow, and refuse what should not be decoded.

The header is read first (PIL opens lazily): a zero-byte or unknown file, or one declaring more
pixels than the limit, is refused before any pixel buffer exists. JPEGs are then decoded by OpenCV
at a reduced scale (libjpeg's DCT scaling: 1/2, 1/4 or 1/8 of the work) when every requested hash
only needs a small image; formats OpenCV cannot read (GIF, some palettes) fall back to PIL's first
frame. EXIF orientation is ignored, as imagehash ignores it: a rotated copy is a different image to
both.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import cv2
import numpy as np
from PIL import Image

from streaming.errors import Reason, Rejected
from streaming.image.ops import decolorize

cv2.setNumThreads(1)  # one decode per Python worker; Spark runs one worker per core

# How the grey hashes see colour: PIL's luma (imagehash's) or contrast-preserving decolorization.
GREY_STEPS = ("luma", "decolor")

# OpenCV turns an image by its EXIF orientation unless told not to; imagehash (PIL) never does.
_REDUCED = {
    factor: (colour | cv2.IMREAD_IGNORE_ORIENTATION, grey | cv2.IMREAD_IGNORE_ORIENTATION)
    for factor, colour, grey in (
        (1, cv2.IMREAD_COLOR, cv2.IMREAD_GRAYSCALE),
        (2, cv2.IMREAD_REDUCED_COLOR_2, cv2.IMREAD_REDUCED_GRAYSCALE_2),
        (4, cv2.IMREAD_REDUCED_COLOR_4, cv2.IMREAD_REDUCED_GRAYSCALE_4),
        (8, cv2.IMREAD_REDUCED_COLOR_8, cv2.IMREAD_REDUCED_GRAYSCALE_8),
    )
}


@dataclass(frozen=True)
class Decoded:
    """The one decode of an image: BGR (or gray when no hash needs colour) and the original size."""

    pixels: np.ndarray
    width: int  # of the original image, before any reduction
    height: int
    reduction: int = 1  # each pixel stands for a reduction x reduction block of the original
    # How far the decode rounds pixels up on average (libjpeg's 1/8 scaling, see dc_bias).
    bias: float = 0.0
    grey: str = "luma"  # the grey step of the grey hashes, one of GREY_STEPS

    @cached_property
    def luma(self) -> np.ndarray:
        """PIL's "L" conversion, to the rounding (ITU-R 601-2 luma in 16-bit fixed point)."""
        if self.pixels.ndim == 2:
            return self.pixels
        b, g, r = (self.pixels[..., i].astype(np.uint32) for i in range(3))
        return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)

    @cached_property
    def gray(self) -> np.ndarray:
        """The image the grey hashes read: luma, or the contrast-preserving decolorization."""
        return decolorize(self.pixels) if self.grey == "decolor" else self.luma


class Header(NamedTuple):
    format: str
    width: int
    height: int
    dc_step: int  # a JPEG's quantisation step of the luma DC coefficient (0 for other formats)


def probe(data: bytes, max_pixels: int) -> Header:
    """What the header alone says."""
    if not data:
        raise Rejected(Reason.EMPTY, "zero bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt, (width, height) = image.format or "", image.size
                dc_step = _luma_dc_step(image) if fmt == "JPEG" else 0
    except Image.DecompressionBombError as e:
        raise Rejected(Reason.TOO_LARGE, str(e)) from None
    except Exception as e:  # PIL raises many kinds for bytes that are not an image
        raise Rejected(Reason.UNDECODABLE, f"not an image PIL or OpenCV can read: {e}") from None
    if width * height > max_pixels:
        raise Rejected(
            Reason.TOO_LARGE,
            f"{width}x{height} = {width * height} pixels, over the limit of {max_pixels}",
        )
    if width < 1 or height < 1:
        raise Rejected(Reason.UNDECODABLE, f"image of size {width}x{height}")
    return Header(fmt, width, height, dc_step)


def decode(
    data: bytes, max_pixels: int, colour: bool, min_side: int, grey: str = "luma"
) -> Decoded:
    """Decode `data`, reduced while the shorter side stays at least `min_side` (0: never reduce);
    `grey` is the grey step its hashes will read (decolorizing needs `colour`)."""
    fmt, width, height, dc_step = probe(data, max_pixels)
    factor = reduction(width, height, min_side) if fmt == "JPEG" else 1
    # Only a JPEG decodes straight to grey well (its luma is stored); for other formats OpenCV's own
    # grey conversion rounds differently from PIL's, so they are decoded in colour and converted as
    # PIL does.
    flag = _REDUCED[factor][0 if colour or fmt != "JPEG" else 1]
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if pixels is None:
        return Decoded(_decode_with_pil(data, colour), width, height, grey=grey)
    bias = dc_bias(dc_step) if factor == 8 else 0.0
    return Decoded(pixels, width, height, factor, bias, grey)


def reduction(width: int, height: int, min_side: int) -> int:
    """The largest of libjpeg's DCT scalings (1, 2, 4, 8) that keeps the shorter side at least
    `min_side`."""
    factor = 1
    while min_side and factor < 8 and min(width, height) // (factor * 2) >= min_side:
        factor *= 2
    return factor


def dc_bias(step: int) -> float:
    """The mean amount libjpeg's 1/8 scaling lifts a pixel by, for a luma DC quantisation step
    (docs/hashing.md, "The 1/8 decode's lift", derives it and measures what removing it gains)."""
    residues = np.arange(8) * step % 8
    return float(np.mean(np.where(residues >= 4, 8 - residues, -residues)) / 8)


def _luma_dc_step(image: Image.Image) -> int:
    tables: Any = getattr(image, "quantization", None)
    components: Any = getattr(image, "layer", None)
    try:
        # The first component's table (PIL: id, h, v, table); DC first.
        return int(tables[components[0][3]][0])
    except (TypeError, LookupError, ValueError):
        return 0


def _decode_with_pil(data: bytes, colour: bool) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.seek(0)  # animated: the first frame, as imagehash sees it
            rgb = np.asarray(image.convert("RGB"))
    except Exception as e:
        raise Rejected(Reason.UNDECODABLE, f"cannot decode the image: {e}") from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR if colour else cv2.COLOR_RGB2GRAY)
