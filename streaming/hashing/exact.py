"""imagehash itself on a PIL decode: bit-for-bit the hashes users may already have stored
elsewhere."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def exact_hashes(
    data: bytes, types: tuple[str, ...], hash_size: int
) -> tuple[dict[str, str], int | None]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return pil_hashes(image, types, hash_size)


def pil_hashes(
    image: Image.Image, types: tuple[str, ...], hash_size: int
) -> tuple[dict[str, str], int | None]:
    import imagehash

    functions = {
        "ahash": lambda im: imagehash.average_hash(im, hash_size),
        "phash": lambda im: imagehash.phash(im, hash_size),
        "dhash": lambda im: imagehash.dhash(im, hash_size),
        "whash": lambda im: imagehash.whash(im, hash_size),
        "whash-db4": lambda im: imagehash.whash(im, hash_size, mode="db4"),
        "colorhash": imagehash.colorhash,
        "crop-resistant": lambda im: imagehash.crop_resistant_hash(
            im, lambda s: imagehash.dhash(s, hash_size)
        ),
    }
    hashes = {t: str(functions[t](image)) for t in types if t != "pdq"}
    quality = None
    if "pdq" in types:
        import pdqhash

        from streaming.hashing.words import bits_to_hex

        bits, quality = pdqhash.compute(np.asarray(image.convert("RGB")))
        hashes["pdq"] = bits_to_hex(bits)
        quality = int(quality)
    return hashes, quality
