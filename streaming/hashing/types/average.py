"""ahash: each pixel of a hash_size grid against the grid's mean."""

from __future__ import annotations

from PIL import Image

from streaming.hashing.decode import Decoded
from streaming.hashing.dihedral import TRANSFORMS, apply
from streaming.hashing.resample import resize_like_pil
from streaming.hashing.types.base import HashType
from streaming.hashing.words import bits_to_hex


def fast(image: Decoded, hash_size: int) -> str:
    pixels = resize_like_pil(image, hash_size, hash_size)
    return bits_to_hex((pixels > pixels.mean()).ravel())


def variants(image: Decoded, hash_size: int) -> list[str]:
    grid = resize_like_pil(image, hash_size, hash_size)
    return [bits_to_hex((apply(grid, t) > grid.mean()).ravel()) for t in TRANSFORMS]


def exact(image: Image.Image, hash_size: int) -> str:
    import imagehash

    return str(imagehash.average_hash(image, hash_size))


AHASH = HashType("ahash", fast, exact, bandable=True, variants=variants)
