"""dhash: each pixel of a (hash_size + 1) x hash_size grid against its left neighbour."""

from __future__ import annotations

from PIL import Image

from streaming.hashing.decode import Decoded
from streaming.hashing.resample import resize_like_pil
from streaming.hashing.types.base import HashType
from streaming.hashing.words import bits_to_hex


def fast(image: Decoded, hash_size: int) -> str:
    pixels = resize_like_pil(image, hash_size + 1, hash_size)
    return bits_to_hex((pixels[:, 1:] > pixels[:, :-1]).ravel())


def exact(image: Image.Image, hash_size: int) -> str:
    import imagehash

    return str(imagehash.dhash(image, hash_size))


DHASH = HashType("dhash", fast, exact, bandable=True)
