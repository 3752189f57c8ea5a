"""Perceptual hashes of images, each image decoded once: numpy and OpenCV, no Spark.

The seven hashes of the `imagehash` package (ahash, phash, dhash, whash, whash-db4, colorhash,
crop-resistant) and PDQ, written as imagehash writes them (`str(ImageHash)`); each type is defined
in streaming.hashing.types. The fast kernels agree with imagehash on nearly every bit
(docs/hashing.md measures how nearly); `exact=True` runs imagehash itself for users who must match
hashes stored elsewhere. EXIF orientation is ignored, as imagehash ignores it. Nothing here raises
on bad input: each image gets its hashes or an error code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from streaming.errors import Reason, Rejected
from streaming.hashing.borders import centre_crop, unletterboxed
from streaming.hashing.decode import GREY_STEPS, Decoded, decode, probe
from streaming.hashing.exact import exact_hashes, pil_hashes
from streaming.hashing.types import HASH_TYPES, Hashed, HashType, hash_type, hashed
from streaming.hashing.words import hex_to_words

__all__ = [
    "HASH_TYPES",
    "HashSpec",
    "ImageHashes",
    "hash_image",
    "hash_images",
    "hash_pixels",
    "hash_type",
    "hex_to_words",
]


@dataclass(frozen=True)
class HashSpec:
    types: tuple[str, ...] = ("phash",)
    hash_size: int = 8
    exact: bool = False
    max_pixels: int = 100_000_000
    # The hashes of the 7 other dihedral transforms too (ImageHashes.variants), for every type
    # that has them (HashType.variants).
    dihedral: bool = False
    unletterbox: bool = False  # take uniform borders off before hashing (borders.py)
    # The hashes of central crops too (ImageHashes.crops), one per share of each side cut off,
    # for the types of crop_types (all of `types` when it is empty: the stream needs its primary's).
    crops: tuple[float, ...] = ()
    crop_types: tuple[str, ...] = ()
    grey: str = "luma"  # how ahash, phash, dhash, whash, whash-db4 and PDQ see colour

    def __post_init__(self) -> None:
        for name in self.types:
            hash_type(name)  # a ValueError naming the known types
        if not set(self.crop_types) <= set(self.types):
            raise ValueError(f"crop types {self.crop_types} must be among the types {self.types}")
        if self.exact and (self.dihedral or self.unletterbox):
            raise ValueError("dihedral variants and unletterboxing need exact = False")
        if self.grey not in GREY_STEPS:
            raise ValueError(f"unknown grey step {self.grey!r}; known: {', '.join(GREY_STEPS)}")
        if self.exact and self.grey != "luma":
            raise ValueError("exact hashes are imagehash's own, whose grey step is luma")

    @property
    def hash_types(self) -> list[HashType]:
        return [hash_type(name) for name in self.types]

    @property
    def colour(self) -> bool:
        """Whether the decode keeps colour: a type reads it, or the grey step makes its own grey."""
        return any(t.colour for t in self.hash_types) or self.grey != "luma"


@dataclass(frozen=True)
class ImageHashes:
    hashes: dict[str, str]
    extras: dict[str, int] = field(default_factory=dict)  # the types' extra columns (pdq_quality)
    error: Rejected | None = None
    # Per hash type, the hash of each of dihedral.TRANSFORMS (HashSpec.dihedral), identity first.
    variants: dict[str, list[str]] = field(default_factory=dict)
    # Per hash type, the hash of each central crop of HashSpec.crops.
    crops: dict[str, list[str]] = field(default_factory=dict)


def hash_image(data: bytes, spec: HashSpec) -> ImageHashes:
    """Every hash of spec.types from one decode of `data`, or the reason there are none. Never
    raises."""

    def hashes() -> ImageHashes:
        if spec.exact:
            probe(data, spec.max_pixels)
            return _image_hashes(exact_hashes(data, spec.hash_types, spec.hash_size))
        min_side = max(t.min_side(spec.hash_size) for t in spec.hash_types)
        return _fast(decode(data, spec.max_pixels, spec.colour, min_side, spec.grey), spec)

    return _guarded(hashes)


def hash_pixels(pixels: np.ndarray, spec: HashSpec) -> ImageHashes:
    """The same from an image already decoded: uint8 BGR, BGRA or grey (e.g. Spark's image
    struct). Never raises."""

    def hashes() -> ImageHashes:
        height, width = pixels.shape[:2]
        channels = 1 if pixels.ndim == 2 else pixels.shape[2]
        if spec.exact:
            rgb = cv2.cvtColor(pixels, _TO_RGB[channels]) if channels > 1 else pixels
            return _image_hashes(pil_hashes(Image.fromarray(rgb), spec.hash_types, spec.hash_size))
        bgr = pixels
        if channels == 4:
            bgr = cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
        elif channels == 1 and spec.colour:
            bgr = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
        return _fast(Decoded(bgr, width, height, grey=spec.grey), spec)

    return _guarded(hashes)


_TO_RGB = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGBA}


def _fast(image: Decoded, spec: HashSpec) -> ImageHashes:
    types, size = spec.hash_types, spec.hash_size
    if spec.unletterbox:
        image = unletterboxed(image)
    results = {t.name: hashed(t.fast(image, size)) for t in types}
    variants = {}
    if spec.dihedral:
        variants = {t.name: t.variants(image, size) for t in types if t.variants}
    crops = {}
    if spec.crops:
        centres = [centre_crop(image, share) for share in spec.crops]
        cropped = [t for t in types if t.name in (spec.crop_types or spec.types)]
        crops = {t.name: [hashed(t.fast(c, size)).hex for c in centres] for t in cropped}
    return _image_hashes(results, variants, crops)


def _image_hashes(
    results: dict[str, Hashed],
    variants: dict[str, list[str]] | None = None,
    crops: dict[str, list[str]] | None = None,
) -> ImageHashes:
    hashes = {name: result.hex for name, result in results.items()}
    extras = {
        column: value for result in results.values() for column, value in result.extras.items()
    }
    return ImageHashes(hashes, extras, variants=variants or {}, crops=crops or {})


def _guarded(hashes: Callable[[], ImageHashes]) -> ImageHashes:
    try:
        return hashes()
    except Rejected as e:
        return ImageHashes({}, error=e)
    except MemoryError:
        return ImageHashes({}, error=Rejected(Reason.TOO_LARGE, "out of memory while decoding"))
    except Exception as e:  # a decoder's bug on hostile bytes must cost one image, not the task
        return ImageHashes({}, error=Rejected(Reason.UNSUPPORTED, f"{type(e).__name__}: {e}"))


def hash_images(blobs: Sequence[bytes], spec: HashSpec) -> list[ImageHashes]:
    """hash_image for each blob, in order."""
    return [hash_image(blob, spec) for blob in blobs]
