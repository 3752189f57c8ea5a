"""phash: the low frequencies of the grid's 2-D DCT against their median."""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image

from streaming.hashing.decode import Decoded
from streaming.hashing.dihedral import TRANSFORMS, dct_block
from streaming.hashing.resample import resize_like_pil
from streaming.hashing.types.base import HashType
from streaming.hashing.words import bits_to_hex


@cache
def _dct_rows(size: int, keep: int) -> np.ndarray:
    """The first `keep` rows of scipy.fftpack's unnormalised DCT-II matrix of order `size`."""
    k, n = np.arange(keep)[:, None], np.arange(size)[None, :]
    return 2 * np.cos(np.pi * k * (2 * n + 1) / (2 * size))


def fast(image: Decoded, hash_size: int) -> str:
    low = coefficients(image, hash_size)
    return bits_to_hex((low > np.median(low)).ravel())


def coefficients(image: Decoded, hash_size: int) -> np.ndarray:
    """The hash_size x hash_size low-frequency corner of the 2-D DCT that phash thresholds."""
    size = hash_size * 4  # imagehash's highfreq_factor
    pixels = resize_like_pil(image, size, size).astype(np.float64)
    rows = _dct_rows(size, hash_size)
    return rows @ pixels @ rows.T  # only the low-frequency corner of the 2-D DCT is ever looked at


def variants(image: Decoded, hash_size: int) -> list[str]:
    low = coefficients(image, hash_size)
    blocks = [dct_block(low, t) for t in TRANSFORMS]
    return [bits_to_hex((b > np.median(b)).ravel()) for b in blocks]


def exact(image: Image.Image, hash_size: int) -> str:
    import imagehash

    return str(imagehash.phash(image, hash_size))


PHASH = HashType("phash", fast, exact, bandable=True, variants=variants)
