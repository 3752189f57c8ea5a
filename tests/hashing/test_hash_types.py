"""The contract every registered hash type keeps (as python-threatexchange's SignalTypeAutoTest):
a new type in streaming.hashing.types is checked here without a test of its own."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import imagehash
import numpy as np
import pytest
from PIL import Image

from streaming.hashing import HashSpec, hash_image, hex_to_words
from streaming.hashing.decode import decode
from streaming.hashing.dihedral import TRANSFORMS
from streaming.hashing.types import EXTRA_COLUMNS, HASH_TYPES, REGISTRY, HashType, hashed
from streaming.schemas import delta_columns

from .corpus import encoded_photos


@dataclass(frozen=True)
class Agreement:
    """How close the fast kernel must stay to the exact one on the test corpus."""

    mean_bits: float | None = 0.5  # bits apart on average, at most
    identical: float = 0.9  # the share of images whose two hashes are equal, at least
    max_bits: int | None = None  # bits apart on any image, at most
    extras_apart: int = 0  # each extra column's difference, at most
    every: int = 1  # hash every n-th image of the corpus (slow exact kernels)


# A type without an entry keeps the grid hashes' bound.
AGREEMENT = {
    "whash-db4": Agreement(mean_bits=2.0, identical=0.0),
    "crop-resistant": Agreement(mean_bits=None, identical=0.8, every=2),
    # PDQ from a decode of 512 px against the full image; its match threshold is 31.
    "pdq": Agreement(mean_bits=None, identical=0.0, max_bits=12, extras_apart=10, every=4),
}
SIZES = (8, 16)
types = pytest.mark.parametrize("hash_type", REGISTRY.values(), ids=HASH_TYPES)


@pytest.fixture(scope="module")
def corpus() -> dict[str, bytes]:
    return encoded_photos()


@pytest.fixture(scope="module")
def photo(corpus) -> bytes:
    return corpus["chelsea.jpg"]


def bits_apart(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def test_names_are_unique_and_match_their_entry():
    assert [t.name for t in REGISTRY.values()] == list(REGISTRY)
    assert len({t.column for t in REGISTRY.values()}) == len(REGISTRY)
    assert len(set(EXTRA_COLUMNS)) == len(EXTRA_COLUMNS)


@types
def test_the_images_table_has_its_columns(hash_type: HashType):
    columns = delta_columns("images")
    assert re.search(rf"\b{hash_type.column} ARRAY<BIGINT>", columns)
    for extra in hash_type.extras:
        assert re.search(rf"\b{extra} INT\b", columns)


@types
@pytest.mark.parametrize("hash_size", SIZES)
def test_hex_has_its_width_and_round_trips_through_words(hash_type: HashType, hash_size, photo):
    result = hash_image(photo, HashSpec(types=(hash_type.name,), hash_size=hash_size))
    assert result.error is None, result.error
    hex_hash = result.hashes[hash_type.name]
    assert set(result.extras) == set(hash_type.extras)
    words = hex_to_words(hex_hash)
    assert all(-(2**63) <= w < 2**63 for w in words)
    if hash_type.bits is None:  # grows with the image: no width to check or encode with
        with pytest.raises(ValueError, match="no fixed width"):
            hash_type.width(hash_size)
        return
    bits = hash_type.width(hash_size)
    segments = hex_hash.split(",") if hash_type.segmented else [hex_hash]
    assert {len(segment) for segment in segments} == {-(-bits // 4)}
    assert hash_type.hex_from_words(words, hash_size) == hex_hash
    if hash_type.bandable:
        assert bits % 64 == 0, "bands are cut from whole 64-bit words"


@types
def test_imagehash_reads_the_hex_back(hash_type: HashType, photo):
    hex_hash = hash_image(photo, HashSpec(types=(hash_type.name,))).hashes[hash_type.name]
    if hash_type.segmented:
        assert str(imagehash.hex_to_multihash(hex_hash)) == hex_hash
    elif hash_type.name != "pdq":  # not one of imagehash's
        assert str(imagehash.hex_to_flathash(hex_hash, len(hex_hash) * 4)) == hex_hash


@types
def test_distance_to_itself_is_zero_and_to_its_complement_is_its_width(hash_type, photo):
    words = hex_to_words(
        hash_image(photo, HashSpec(types=(hash_type.name,))).hashes[hash_type.name]
    )
    assert hash_type.distance(words, words, 8) == 0
    if not hash_type.segmented and hash_type.bits is not None:
        flipped = [~w for w in words]
        assert hash_type.distance(words, flipped, 8) == 64 * len(words)


@types
def test_the_fast_kernel_agrees_with_the_exact_one(hash_type: HashType, corpus):
    bound = AGREEMENT.get(hash_type.name, Agreement())
    spec = HashSpec(types=(hash_type.name,))
    apart, identical = [], []
    for name, data in list(corpus.items())[:: bound.every]:
        fast = hash_image(data, spec)
        with Image.open(io.BytesIO(data)) as image:
            exact = hashed(hash_type.exact(image, 8))
        identical.append(fast.hashes[hash_type.name] == exact.hex)
        if not hash_type.segmented:
            apart.append(bits_apart(fast.hashes[hash_type.name], exact.hex))
        for column, value in exact.extras.items():
            assert abs(fast.extras[column] - value) <= bound.extras_apart, (name, column)
    assert np.mean(identical) >= bound.identical, f"{np.mean(identical):.0%} identical"
    if bound.mean_bits is not None:
        assert np.mean(apart) <= bound.mean_bits, f"{np.mean(apart):.2f} bits apart on average"
    if bound.max_bits is not None:
        assert max(apart) <= bound.max_bits


@types
def test_the_decode_keeps_what_the_kernel_needs(hash_type: HashType, photo):
    """A type that reads colour gets colour; its minimum side is honoured by the reduction."""
    image = decode(photo, 10**9, hash_type.colour, hash_type.min_side(8))
    assert (image.pixels.ndim == 3) == hash_type.colour
    assert min(image.pixels.shape[:2]) >= min(hash_type.min_side(8), min(image.width, image.height))


@types
def test_dihedral_variants_start_with_the_hash_itself(hash_type: HashType, photo):
    """A type with variants gives one hash per transform, the identity's equal to its hash; a type
    without them is left out of HashSpec.dihedral's variants."""
    result = hash_image(photo, HashSpec(types=(hash_type.name,), dihedral=True))
    if hash_type.variants is None:
        assert result.variants == {}
        return
    variants = result.variants[hash_type.name]
    assert len(variants) == len(TRANSFORMS)
    assert variants[0] == result.hashes[hash_type.name]
