"""The exact kernels (imagehash itself) on a PIL decode: bit-for-bit the hashes users may already
have stored elsewhere."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image

from streaming.hashing.types import Hashed, HashType, hashed


def exact_hashes(data: bytes, types: Sequence[HashType], hash_size: int) -> dict[str, Hashed]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return pil_hashes(image, types, hash_size)


def pil_hashes(image: Image.Image, types: Sequence[HashType], hash_size: int) -> dict[str, Hashed]:
    return {t.name: hashed(t.exact(image, hash_size)) for t in types}
