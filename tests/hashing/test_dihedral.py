"""Dihedral variants and border removal: the hash of a turned, flipped or padded photo is found from
the one decode of the photo itself."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streaming.hashing import HashSpec, hash_image
from streaming.hashing.dihedral import TRANSFORM_NAMES, TRANSFORMS, apply
from streaming.hashing.types import DIHEDRAL_TYPES
from streaming.samples import photos

TURNS = {
    "identity": lambda im: im,
    "flip_h": lambda im: cv2.flip(im, 1),
    "flip_v": lambda im: cv2.flip(im, 0),
    "rot180": lambda im: cv2.rotate(im, cv2.ROTATE_180),
    "transpose": lambda im: cv2.transpose(im),
    "rot90": lambda im: cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE),
    "rot270": lambda im: cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE),
    "transverse": lambda im: cv2.rotate(cv2.transpose(im), cv2.ROTATE_180),
}
# PDQ's decimation is not mirror-symmetric: its turned hashes sit a few bits from the turned
# image's, within PDQ's match threshold of 31.
TOLERANCE = {"ahash": 2, "phash": 3, "dhash": 3, "whash": 2, "pdq": 31}


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def apart(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A small non-square photo: every transform moves it."""
    return cv2.resize(photos()["chelsea"], (240, 160), interpolation=cv2.INTER_AREA)


def test_the_grid_transforms_are_the_image_transforms(photo: np.ndarray) -> None:
    for transform in TRANSFORMS:
        assert np.array_equal(apply(photo, transform), TURNS[transform.name](photo))


def test_each_variant_is_the_hash_of_the_turned_photo(photo: np.ndarray) -> None:
    spec = HashSpec(types=DIHEDRAL_TYPES, dihedral=True)
    variants = hash_image(png(photo), spec).variants
    for k, name in enumerate(TRANSFORM_NAMES):
        turned = hash_image(png(TURNS[name](photo)), HashSpec(types=DIHEDRAL_TYPES)).hashes
        for hash_type in DIHEDRAL_TYPES:
            assert apart(variants[hash_type][k], turned[hash_type]) <= TOLERANCE[hash_type], (
                name,
                hash_type,
            )
            if name != "identity":  # and the turn matters: the plain hash is far
                assert apart(variants[hash_type][0], turned[hash_type]) > 10


def test_variants_leave_the_hashes_as_they_were(photo: np.ndarray) -> None:
    plain = hash_image(png(photo), HashSpec(types=DIHEDRAL_TYPES))
    turned = hash_image(png(photo), HashSpec(types=DIHEDRAL_TYPES, dihedral=True))
    assert turned.hashes == plain.hashes
    assert {t: v[0] for t, v in turned.variants.items()} == plain.hashes
    assert plain.variants == {}


@pytest.mark.parametrize("colour", [0, 255, 128])
def test_unletterboxing_finds_the_photo_in_its_frame(photo: np.ndarray, colour: int) -> None:
    spec = HashSpec(types=("phash", "dhash"), unletterbox=True)
    framed = cv2.copyMakeBorder(photo, 40, 40, 0, 0, cv2.BORDER_CONSTANT, value=(colour,) * 3)
    padded = cv2.copyMakeBorder(photo, 20, 20, 30, 30, cv2.BORDER_CONSTANT, value=(colour,) * 3)
    own = hash_image(png(photo), spec).hashes
    for edited in (framed, padded):
        found = hash_image(png(edited), spec).hashes
        plain = hash_image(png(edited), HashSpec(types=("phash", "dhash"))).hashes
        assert all(apart(found[t], own[t]) <= 4 for t in own)
        assert any(apart(plain[t], own[t]) > 10 for t in own)


def test_unletterboxing_leaves_a_photo_without_a_frame_whole(photo: np.ndarray) -> None:
    sky = photo.copy()
    sky[:50] = (230, 180, 120)  # a plain band at the top only is not padding
    for image in (photo, sky, np.full((64, 64, 3), 90, np.uint8)):
        assert (
            hash_image(png(image), HashSpec(types=("phash",), unletterbox=True)).hashes
            == hash_image(png(image), HashSpec(types=("phash",))).hashes
        )


def test_central_crops_are_hashed_from_the_one_decode(photo: np.ndarray) -> None:
    result = hash_image(png(photo), HashSpec(types=("phash",), crops=(0.2,)))
    h, w = photo.shape[:2]
    middle = photo[int(h * 0.1) : h - int(h * 0.1), int(w * 0.1) : w - int(w * 0.1)]
    own = hash_image(png(np.ascontiguousarray(middle)), HashSpec(types=("phash",))).hashes
    assert apart(result.crops["phash"][0], own["phash"]) <= 2


def test_exact_hashing_refuses_what_only_the_kernels_do() -> None:
    with pytest.raises(ValueError, match="exact"):
        HashSpec(exact=True, dihedral=True)
