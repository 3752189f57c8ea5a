"""Wavelet hashes, whash (Haar) and whash-db4 (Daubechies 4): the low band against its median."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from streaming.hashing.decode import Decoded
from streaming.hashing.dihedral import TRANSFORMS, apply
from streaming.hashing.resample import whash_matrix
from streaming.hashing.types.base import HashType
from streaming.hashing.words import bits_to_hex

# The db4 transform runs at the original's power-of-2 scale: its decode is never reduced.
NEVER_REDUCE = 1 << 30


def _image_scale(image: Decoded, hash_size: int) -> int:
    """imagehash's default: the largest power of 2 within the original image's shorter side."""
    return max(2 ** int(np.log2(min(image.width, image.height))), hash_size)


def haar(image: Decoded, hash_size: int) -> str:
    # A median threshold on the Lanczos image's block means: docs/hashing.md shows it is Haar's.
    low = haar_blocks(image, hash_size)
    return bits_to_hex((low > np.median(low)).ravel())


def haar_blocks(image: Decoded, hash_size: int) -> np.ndarray:
    """The hash_size x hash_size block means that whash thresholds at their median."""
    scale = _image_scale(image, hash_size)
    horizontal = whash_matrix(image.width, scale, hash_size, image.reduction)
    vertical = whash_matrix(image.height, scale, hash_size, image.reduction)
    return vertical @ image.gray @ horizontal.T


def haar_variants(image: Decoded, hash_size: int) -> list[str]:
    low = haar_blocks(image, hash_size)
    return [bits_to_hex((apply(low, t) > np.median(low)).ravel()) for t in TRANSFORMS]


def haar_exact(image: Image.Image, hash_size: int) -> str:
    import imagehash

    return str(imagehash.whash(image, hash_size))


def db4(image: Decoded, hash_size: int) -> str:
    import pywt

    scale = _image_scale(image, hash_size)
    pixels = cv2.resize(image.gray, (scale, scale), interpolation=cv2.INTER_AREA) / 255.0
    # Removing the top Haar LL subtracts a constant, which shifts every db4 low-band coefficient
    # alike.
    low = pywt.wavedec2(
        pixels - pixels.mean(), "db4", level=int(np.log2(scale)) - int(np.log2(hash_size))
    )[0]
    return bits_to_hex((low > np.median(low)).ravel())


def db4_exact(image: Image.Image, hash_size: int) -> str:
    import imagehash

    return str(imagehash.whash(image, hash_size, mode="db4"))


WHASH = HashType("whash", haar, haar_exact, bandable=True, variants=haar_variants)
# db4's filters pad the low band, so its width grows with the image's power-of-2 scale (imagehash's
# behaviour too): it has no fixed width and cannot be banded.
WHASH_DB4 = HashType("whash-db4", db4, db4_exact, bits=None, min_side=lambda _: NEVER_REDUCE)
