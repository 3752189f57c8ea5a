"""dhash: each pixel of a (hash_size + 1) x hash_size grid against its left neighbour."""

from __future__ import annotations

from PIL import Image

from streaming.hashing.decode import Decoded
from streaming.hashing.dihedral import TRANSFORMS, apply
from streaming.hashing.resample import resize_like_pil
from streaming.hashing.types.base import HashType
from streaming.hashing.words import bits_to_hex


def fast(image: Decoded, hash_size: int) -> str:
    pixels = resize_like_pil(image, hash_size + 1, hash_size)
    return bits_to_hex((pixels[:, 1:] > pixels[:, :-1]).ravel())


def variants(image: Decoded, hash_size: int) -> list[str]:
    """The transposes read a grid higher than wide: the wide one turned is not dhash's grid."""
    wide = resize_like_pil(image, hash_size + 1, hash_size)
    high = resize_like_pil(image, hash_size, hash_size + 1)
    grids = [apply(high if t.transpose else wide, t) for t in TRANSFORMS]
    return [bits_to_hex((g[:, 1:] > g[:, :-1]).ravel()) for g in grids]


def exact(image: Image.Image, hash_size: int) -> str:
    import imagehash

    return str(imagehash.dhash(image, hash_size))


DHASH = HashType("dhash", fast, exact, bandable=True, variants=variants)
