"""The fast kernels against imagehash itself on real photos; exact mode bit for bit."""

from __future__ import annotations

import io

import imagehash
import numpy as np
import pytest
from PIL import Image

from streaming.hashing import HashSpec, hash_image

from .corpus import encoded_photos, jpeg

FAST = ("ahash", "phash", "dhash", "whash", "colorhash")
ALL = (*FAST, "whash-db4", "crop-resistant")
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


@pytest.fixture(scope="module")
def references(corpus) -> dict[str, dict[str, str]]:
    return {
        name: {t: str(REFERENCE[t](Image.open(io.BytesIO(data)))) for t in ALL}
        for name, data in corpus.items()
    }


def bits_apart(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


@pytest.mark.parametrize("hash_type", FAST)
def test_fast_kernels_agree_with_imagehash(corpus, references, hash_type):
    spec = HashSpec(types=(hash_type,))
    apart = np.array(
        [
            bits_apart(hash_image(data, spec).hashes[hash_type], references[name][hash_type])
            for name, data in corpus.items()
        ]
    )
    assert apart.mean() <= 0.5, f"{hash_type}: {apart.mean():.2f} bits apart on average"
    assert (apart == 0).mean() >= 0.9, f"{hash_type}: {(apart == 0).mean():.0%} identical"


def test_slow_families_stay_close(corpus, references):
    spec = HashSpec(types=("whash-db4", "crop-resistant"))
    results = {name: hash_image(data, spec).hashes for name, data in corpus.items()}
    db4 = np.array(
        [bits_apart(results[n]["whash-db4"], references[n]["whash-db4"]) for n in corpus]
    )
    assert db4.mean() <= 2.0
    assert (
        np.mean([results[n]["crop-resistant"] == references[n]["crop-resistant"] for n in corpus])
        >= 0.8
    )


def test_exact_mode_is_imagehash_bit_for_bit(corpus, references):
    spec = HashSpec(types=ALL, exact=True)
    for name, data in list(corpus.items())[::3]:
        assert hash_image(data, spec).hashes == references[name], name


def test_pdq_from_the_reduced_decode_stays_within_a_few_bits_of_the_full_one(corpus):
    import pdqhash

    for name, data in list(corpus.items())[::4]:
        ours = hash_image(data, HashSpec(types=("pdq",)))
        full, quality = pdqhash.compute(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
        reference = "".join("1" if b else "0" for b in full)
        # match threshold: 31
        assert bits_apart(ours.hashes["pdq"], f"{int(reference, 2):064x}") <= 12, name
        assert ours.pdq_quality is not None and abs(ours.pdq_quality - quality) <= 10


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
