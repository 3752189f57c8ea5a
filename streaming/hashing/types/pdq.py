"""PDQ (Meta's): 256 bits from its own 64x64 DCT, and a quality score of the image's detail."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from streaming.hashing.decode import Decoded
from streaming.hashing.dihedral import TRANSFORM_NAMES
from streaming.hashing.types.base import Hashed, HashType
from streaming.hashing.words import bits_to_hex

# PDQ's own filters need detail: from a 512 px decode, a few bits of 256 move at most.
MIN_SIDE = 512
# pdqhash.compute_dihedral's order (original, rotate 90, 180, 270, flip x, flip y, flip +1, -1)
# in dihedral.TRANSFORMS' names, as tests/hashing/test_dihedral.py checks against turned images.
_DIHEDRAL_ORDER = (
    *("identity", "rot90", "rot180", "rot270"),
    *("flip_v", "flip_h", "transpose", "transverse"),
)


def fast(image: Decoded, hash_size: int) -> Hashed:
    return _pdq(rgb(image))


def rgb(image: Decoded) -> np.ndarray:
    """What PDQ reads: RGB, which it turns to luminance itself; another grey step hands it that
    step's grey in all three channels."""
    if image.grey == "luma":
        return cv2.cvtColor(image.pixels, cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(image.gray, cv2.COLOR_GRAY2RGB)


def variants(image: Decoded, hash_size: int) -> list[str]:
    import pdqhash

    hashes, _ = pdqhash.compute_dihedral(rgb(image))
    by_name = dict(zip(_DIHEDRAL_ORDER, hashes, strict=True))
    return [bits_to_hex(by_name[name]) for name in TRANSFORM_NAMES]


def exact(image: Image.Image, hash_size: int) -> Hashed:
    return _pdq(np.asarray(image.convert("RGB")))


def _pdq(rgb: np.ndarray) -> Hashed:
    import pdqhash

    bits, quality = pdqhash.compute(rgb)
    return Hashed(bits_to_hex(bits), {"pdq_quality": int(quality)})


PDQ = HashType(
    "pdq",
    fast,
    exact,
    bits=lambda _: 256,
    bandable=True,
    colour=True,
    min_side=lambda _: MIN_SIDE,
    extras=("pdq_quality",),
    variants=variants,
)
