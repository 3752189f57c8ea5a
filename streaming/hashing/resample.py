"""PIL's Lanczos resizing, reproduced on a decode that may be reduced, for the grid hashes.

The small grids are resized with PIL's own Lanczos coefficients, as two small matrix products;
greyscale comes from Decoded.gray (PIL's "L" to the rounding, unless hashing.grey decolorizes). The
reduced decode is where a bit can differ from imagehash: docs/hashing.md measures how often.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from streaming.hashing.decode import Decoded


def clear_caches() -> None:
    """Forget the resampling matrices kept per image size (benchmarks of unseen sizes start from
    here)."""
    _resize_matrix.cache_clear()
    whash_matrix.cache_clear()


def _lanczos_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """PIL's Lanczos resampling weights (ImagingResample's precompute_coeffs): for each output
    pixel, the input pixels it reads (out x taps) and their normalised weights (zero past its
    window)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 3 * filterscale
    center = (np.arange(out_size) + 0.5) * scale
    lo = np.maximum((center - support + 0.5).astype(int), 0)
    hi = np.minimum((center + support + 0.5).astype(int), in_size)
    # Taps are counted from the input pixel nearest each centre, so one row of offsets serves every
    # output.
    nearest = np.rint(center - 0.5).astype(int)
    reach = int(support) + 1
    offsets = np.arange(-reach, reach + 1)
    # Lanczos3 from the sines of out + taps angles, not np.sinc's two per tap (docs/hashing.md,
    # "The Lanczos weights"); t = 0 is nudged as np.sinc does.
    a = (center - 0.5 - nearest) * (np.pi / 3 / filterscale)
    a[a == 0] = 1e-20
    b = offsets * (np.pi / 3 / filterscale)
    sin_t = np.sin(b) * np.cos(a)[:, None] - np.cos(b) * np.sin(a)[:, None]
    weights = (sin_t / (b - a[:, None])) ** 2 * (0.75 - sin_t**2)
    pixels = nearest[:, None] + offsets
    weights *= (pixels >= lo[:, None]) & (pixels < hi[:, None])
    return np.clip(pixels, 0, in_size - 1), weights / weights.sum(axis=1, keepdims=True)


def _resampling_matrix(in_size: int, out_size: int, reduction: int, group: int = 1) -> np.ndarray:
    """PIL's Lanczos weights from `in_size` original pixels to `out_size`, as a matrix, each row the
    mean of `group` consecutive output pixels. For a decode reduced by `reduction` (libjpeg's DCT
    scaling: each pixel is about the mean of a reduction-wide block) the weights of each block
    are summed, so the small grid is the one PIL would compute from the original, up to the
    rounding of PIL's intermediate pass."""
    pixels, weights = _lanczos_taps(in_size, out_size)
    rows, columns = out_size // group, -(-in_size // reduction)
    cells = (np.arange(out_size)[:, None] // group) * columns + pixels // reduction
    return np.bincount(cells.ravel(), (weights / group).ravel(), rows * columns).reshape(
        rows, columns
    )


@lru_cache(maxsize=1024)
def _resize_matrix(in_size: int, out_size: int, reduction: int) -> np.ndarray:
    # float32: the product with the decoded image is the one that grows with it, and single
    # precision (24 bits) is finer than PIL's own 22-bit fixed-point weights.
    return _resampling_matrix(in_size, out_size, reduction).astype(np.float32)


def resize_like_pil(image: Decoded, width: int, height: int) -> np.ndarray:
    """image.convert("L").resize((width, height), LANCZOS) of the original: horizontal pass, round
    to 8 bits, vertical pass. A reduced decode's missing rows are interpolated before the rounding,
    which brings it close to PIL's (docs/hashing.md, "Why a reduced decode differs at all")."""
    # Less the lift of a 1/8 decode's rounding (decode.dc_bias): the weights of a row sum to 1.
    rows = (
        image.gray.astype(np.float32) @ _resize_matrix(image.width, width, image.reduction).T
        - image.bias
    )
    if image.reduction > 1:
        # Reduced row i is the mean of original rows i * reduction to (i + 1) * reduction - 1: a
        # linear resize by the integer factor puts each original row between the centres of the two
        # reduced rows around it.
        interpolated = (width, rows.shape[0] * image.reduction)
        rows = cv2.resize(rows, interpolated, interpolation=cv2.INTER_LINEAR)[: image.height]
    rows = np.clip(np.rint(rows), 0, 255)
    return np.clip(np.rint(_resize_matrix(image.height, height, 1) @ rows), 0, 255).astype(np.uint8)


@lru_cache(maxsize=1024)
def whash_matrix(in_size: int, scale: int, hash_size: int, reduction: int) -> np.ndarray:
    """Lanczos to imagehash's `scale` pixels, then the mean of each scale / hash_size block."""
    return _resampling_matrix(in_size, scale, reduction, group=scale // hash_size)
