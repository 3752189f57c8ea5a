"""The hashes of imagehash, computed with OpenCV and numpy from one decode.

Each function reads like imagehash's definition; where the arithmetic can be shortened without
changing the result it says why. Greyscale comes from OpenCV (the same ITU-R 601 weights as PIL's
"L"); the small grids are resized with PIL's own Lanczos coefficients, as two small matrix products,
from a decode that may be reduced: that reduction is where a bit can differ from imagehash.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from streaming.hashing.decode import Decoded
from streaming.hashing.words import COLORHASH_BINBITS, bits_to_hex


def _shrink(gray: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)


def _lanczos3(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) < 3, np.sinc(x) * np.sinc(x / 3), 0.0)


@cache
def _pil_resize_matrix(in_size: int, out_size: int) -> np.ndarray:
    """PIL's Lanczos resampling weights (ImagingResample's precompute_coeffs) as an out x in matrix."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 3 * filterscale
    matrix = np.zeros((out_size, in_size))
    for out in range(out_size):
        center = (out + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        weights = _lanczos3((np.arange(lo, hi) - center + 0.5) / filterscale)
        matrix[out, lo:hi] = weights / weights.sum()
    return matrix


def _resize_like_pil(gray: np.ndarray, width: int, height: int) -> np.ndarray:
    """image.resize((width, height), LANCZOS) on an "L" image: horizontal pass, round to 8 bits, vertical."""
    rows = np.clip(np.rint(gray @ _pil_resize_matrix(gray.shape[1], width).T), 0, 255)
    return np.clip(np.rint(_pil_resize_matrix(gray.shape[0], height) @ rows), 0, 255).astype(np.uint8)


def ahash(image: Decoded, hash_size: int) -> str:
    pixels = _resize_like_pil(image.gray, hash_size, hash_size)
    return bits_to_hex((pixels > pixels.mean()).ravel())


@cache
def _dct_rows(size: int, keep: int) -> np.ndarray:
    """The first `keep` rows of scipy.fftpack's unnormalised DCT-II matrix of order `size`."""
    k, n = np.arange(keep)[:, None], np.arange(size)[None, :]
    return 2 * np.cos(np.pi * k * (2 * n + 1) / (2 * size))


def phash(image: Decoded, hash_size: int) -> str:
    size = hash_size * 4  # imagehash's highfreq_factor
    pixels = _resize_like_pil(image.gray, size, size).astype(np.float64)
    rows = _dct_rows(size, hash_size)
    low = rows @ pixels @ rows.T  # only the low-frequency corner of the 2-D DCT is ever looked at
    return bits_to_hex((low > np.median(low)).ravel())


def dhash(image: Decoded, hash_size: int) -> str:
    pixels = _resize_like_pil(image.gray, hash_size + 1, hash_size)
    return bits_to_hex((pixels[:, 1:] > pixels[:, :-1]).ravel())


def _image_scale(image: Decoded, hash_size: int) -> int:
    """imagehash's default: the largest power of 2 within the original image's shorter side."""
    return max(2 ** int(np.log2(min(image.width, image.height))), hash_size)


def whash(image: Decoded, hash_size: int) -> str:
    # Haar's low band after log2(scale/hash_size) levels is the block average of the scale x scale image
    # (times a constant), and removing the top-level LL subtracts the mean: neither moves a pixel across
    # the median. So the Haar wavelet hash is a median threshold on an area-averaged hash_size image.
    low = _shrink(image.gray.astype(np.float32), hash_size, hash_size)
    return bits_to_hex((low > np.median(low)).ravel())


def whash_db4(image: Decoded, hash_size: int) -> str:
    import pywt

    scale = _image_scale(image, hash_size)
    pixels = _shrink(image.gray, scale, scale) / 255.0
    # Removing the top Haar LL subtracts a constant, which shifts every db4 low-band coefficient alike.
    low = pywt.wavedec2(pixels - pixels.mean(), "db4", level=int(np.log2(scale)) - int(np.log2(hash_size)))[0]
    return bits_to_hex((low > np.median(low)).ravel())


def _pil_hue_saturation(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PIL's convert("HSV") H and S channels (Convert.c rgb2hsv_row, truncations included)."""
    b, g, r = (bgr[..., i].reshape(-1).astype(np.float32) for i in range(3))
    maxc, minc = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    spread = maxc - minc
    grey = spread == 0
    spread = np.where(grey, 1, spread)
    rc, gc, bc = (maxc - r) / spread, (maxc - g) / spread, (maxc - b) / spread
    hue = np.where(r == maxc, bc - gc, np.where(g == maxc, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = np.fmod(hue / 6.0 + 1.0, 1.0)
    h = np.where(grey, 0, np.clip((hue * 255.0).astype(np.int32), 0, 255))
    s = np.where(grey, 0, np.clip((spread / np.where(maxc == 0, 1, maxc) * 255.0).astype(np.int32), 0, 255))
    return h, s


def colorhash(image: Decoded, hash_size: int) -> str:
    h, s = _pil_hue_saturation(image.pixels)
    black = image.gray.ravel() < 256 // 8
    gray = s < 256 // 3
    colours = ~black & ~gray
    faint = colours & (s < 256 * 2 // 3)
    bright = colours & (s > 256 * 2 // 3)
    bins = np.linspace(0, 255, 7)
    fractions = [black.mean(), (~black & gray).mean()]
    total = max(1, colours.sum())
    for mask in (faint, bright):
        fractions += list(np.histogram(h[mask], bins=bins)[0] / total)
    levels = 2**COLORHASH_BINBITS
    values = [min(levels - 1, int(f * levels)) for f in fractions]
    # imagehash's own encoding of a bin (not plain binary: the middle bit means "at least 2").
    return bits_to_hex(
        v // 2 ** (COLORHASH_BINBITS - i - 1) % 2 ** (COLORHASH_BINBITS - i) > 0
        for v in values
        for i in range(COLORHASH_BINBITS)
    )


def crop_resistant(image: Decoded, hash_size: int) -> str:
    import imagehash
    from PIL import Image

    rgb = Image.fromarray(cv2.cvtColor(image.pixels, cv2.COLOR_BGR2RGB))
    return str(imagehash.crop_resistant_hash(rgb, lambda segment: imagehash.dhash(segment, hash_size)))


def pdq(image: Decoded, hash_size: int) -> tuple[str, int]:
    import pdqhash

    bits, quality = pdqhash.compute(cv2.cvtColor(image.pixels, cv2.COLOR_BGR2RGB))
    return bits_to_hex(bits), int(quality)
