"""Against imagehash itself on real photos: exact mode bit for bit, the fast kernels at hash size 16
and on 1/8 decodes (tests/hashing/test_hash_types.py checks every type at size 8)."""

from __future__ import annotations

import io

import imagehash
import numpy as np
import pytest
from PIL import Image

from streaming.hashing import HashSpec, hash_image

from .corpus import encoded_photos, jpeg

REFERENCE = {
    "ahash": imagehash.average_hash,
    "phash": imagehash.phash,
    "dhash": imagehash.dhash,
    "whash": imagehash.whash,
    "whash-db4": lambda image: imagehash.whash(image, mode="db4"),
    "colorhash": imagehash.colorhash,
    "crop-resistant": imagehash.crop_resistant_hash,
}


@pytest.fixture(scope="module")
def corpus() -> dict[str, bytes]:
    return encoded_photos()


def bits_apart(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def test_exact_mode_is_imagehash_bit_for_bit(corpus):
    spec = HashSpec(types=tuple(REFERENCE), exact=True)
    for name, data in list(corpus.items())[::3]:
        reference = {t: str(f(Image.open(io.BytesIO(data)))) for t, f in REFERENCE.items()}
        assert hash_image(data, spec).hashes == reference, name


def test_hash_size_16_gives_256_bit_hashes(corpus):
    data = next(iter(corpus.values()))
    hashes = hash_image(
        data, HashSpec(types=("ahash", "phash", "dhash", "whash"), hash_size=16)
    ).hashes
    assert {len(h) for h in hashes.values()} == {64}
    reference = str(imagehash.phash(Image.open(io.BytesIO(data)), hash_size=16))
    assert bits_apart(hashes["phash"], reference) <= 4


def test_one_eighth_decodes_agree_with_imagehash():
    """Photos of 2100 px a side are decoded at 1/8 (DC coefficients only), whose rounding lifts
    every pixel by 1/8 of a level at the quantisation step cv2's JPEGs use: uncorrected, ahashes
    were 1.6 bits apart."""
    import cv2

    from streaming.hashing.decode import decode, probe
    from streaming.samples import photos

    big = {
        name: jpeg(cv2.resize(bgr, (2100, 2100), interpolation=cv2.INTER_CUBIC))
        for name, bgr in photos().items()
    }
    sample = next(iter(big.values()))
    assert decode(sample, 10**9, colour=False, min_side=256).reduction == 8
    assert probe(sample, 10**9).dc_step == 2
    for hash_type in ("ahash", "dhash", "phash"):
        spec, reference = HashSpec(types=(hash_type,)), REFERENCE[hash_type]
        apart = [
            bits_apart(
                hash_image(data, spec).hashes[hash_type],
                str(reference(Image.open(io.BytesIO(data)))),
            )
            for data in big.values()
        ]
        assert np.mean(apart) <= 0.5, f"{hash_type}: {np.mean(apart):.2f} bits apart on average"
