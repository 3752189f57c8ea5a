"""Perceptual hashes of images, each image decoded once: numpy and OpenCV, no Spark.

The seven hashes of the `imagehash` package (ahash, phash, dhash, whash, whash-db4, colorhash,
crop-resistant) and PDQ, written as imagehash writes them (`str(ImageHash)`). The fast kernels agree
with imagehash on nearly every bit (docs/hashing.md measures how nearly); `exact=True` runs
imagehash itself for users who must match hashes stored elsewhere. EXIF orientation is ignored, as
imagehash ignores it. Nothing here raises on bad input: each image gets its hashes or an error code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from streaming.config import GREY_STEPS, HASH_TYPES
from streaming.errors import Reason, Rejected
from streaming.hashing import dihedral, kernels
from streaming.hashing.borders import centre_crop, unletterboxed
from streaming.hashing.decode import Decoded, decode, probe
from streaming.hashing.exact import exact_hashes, pil_hashes
from streaming.hashing.words import hash_bits, hex_to_words, words_to_hex

__all__ = [
    "HASH_TYPES",
    "HashSpec",
    "ImageHashes",
    "hash_bits",
    "hash_image",
    "hash_images",
    "hash_pixels",
    "hex_to_words",
    "words_to_hex",
]

KERNELS: dict[str, Callable[[Decoded, int], str]] = {
    "ahash": kernels.ahash,
    "phash": kernels.phash,
    "dhash": kernels.dhash,
    "whash": kernels.whash,
    "whash-db4": kernels.whash_db4,
    "colorhash": kernels.colorhash,
    "crop-resistant": kernels.crop_resistant,
}
COLOUR_TYPES = frozenset({"colorhash", "crop-resistant", "pdq"})
NEVER_REDUCE = 1 << 30


def _min_side(hash_type: str, hash_size: int) -> int:
    """The shorter side a reduced decode must keep for a hash to stay faithful."""
    if hash_type == "whash-db4":
        return NEVER_REDUCE  # the db4 transform runs at the original's power-of-2 scale
    if hash_type == "crop-resistant":
        return 300  # it segments a 300 px image
    if hash_type == "pdq":
        return 512  # PDQ's own filters need detail: from 512 px, a few bits of 256 move at most
    # 8x the largest grid a hash resizes to (phash's 4 * hash_size): 1 bit in 20 differs less
    return 32 * hash_size


@dataclass(frozen=True)
class HashSpec:
    types: tuple[str, ...] = ("phash",)
    hash_size: int = 8
    exact: bool = False
    max_pixels: int = 100_000_000
    # The hashes of the 7 other dihedral transforms too (ImageHashes.variants), for every type
    # that has them (dihedral.DIHEDRAL_TYPES).
    dihedral: bool = False
    unletterbox: bool = False  # take uniform borders off before hashing (borders.py)
    # The hashes of central crops too (ImageHashes.crops), one per share of each side cut off.
    crops: tuple[float, ...] = ()
    grey: str = "luma"  # how ahash, phash, dhash, whash, whash-db4 and PDQ see colour

    def __post_init__(self) -> None:
        unknown = set(self.types) - set(HASH_TYPES)
        if unknown:
            raise ValueError(
                f"unknown hash types {sorted(unknown)}; known: {', '.join(HASH_TYPES)}"
            )
        if self.exact and (self.dihedral or self.unletterbox):
            raise ValueError("dihedral variants and unletterboxing need exact = False")
        if self.grey not in GREY_STEPS:
            raise ValueError(f"unknown grey step {self.grey!r}; known: {', '.join(GREY_STEPS)}")
        if self.exact and self.grey != "luma":
            raise ValueError("exact hashes are imagehash's own, whose grey step is luma")


@dataclass(frozen=True)
class ImageHashes:
    hashes: dict[str, str]
    pdq_quality: int | None = None
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
            return ImageHashes(*exact_hashes(data, spec.types, spec.hash_size))
        min_side = max(_min_side(t, spec.hash_size) for t in spec.types)
        colour = _needs_colour(spec)
        return _kernel_hashes(decode(data, spec.max_pixels, colour, min_side, spec.grey), spec)

    return _guarded(hashes)


def hash_pixels(pixels: np.ndarray, spec: HashSpec) -> ImageHashes:
    """The same from an image already decoded: uint8 BGR, BGRA or grey (e.g. Spark's image
    struct). Never raises."""

    def hashes() -> ImageHashes:
        height, width = pixels.shape[:2]
        channels = 1 if pixels.ndim == 2 else pixels.shape[2]
        if spec.exact:
            rgb = cv2.cvtColor(pixels, _TO_RGB[channels]) if channels > 1 else pixels
            return ImageHashes(*pil_hashes(Image.fromarray(rgb), spec.types, spec.hash_size))
        bgr = pixels
        if channels == 4:
            bgr = cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
        elif channels == 1 and _needs_colour(spec):
            bgr = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
        return _kernel_hashes(Decoded(bgr, width, height, grey=spec.grey), spec)

    return _guarded(hashes)


_TO_RGB = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGBA}


def _needs_colour(spec: HashSpec) -> bool:
    return bool(COLOUR_TYPES & set(spec.types)) or spec.grey != "luma"


def _kernel_hashes(image: Decoded, spec: HashSpec) -> ImageHashes:
    if spec.unletterbox:
        image = unletterboxed(image)
    hashes = {t: KERNELS[t](image, spec.hash_size) for t in spec.types if t != "pdq"}
    quality = None
    if "pdq" in spec.types:
        hashes["pdq"], quality = kernels.pdq(image, spec.hash_size)
    variants = {}
    if spec.dihedral:
        turned = [t for t in spec.types if t in dihedral.DIHEDRAL_TYPES]
        variants = {t: dihedral.variants(image, t, spec.hash_size) for t in turned}
    crops = {}
    if spec.crops:
        centres = [centre_crop(image, share) for share in spec.crops]
        crops = {
            t: [KERNELS[t](c, spec.hash_size) for c in centres]
            for t in KERNELS.keys() & set(spec.types)
        }
    return ImageHashes(hashes, quality, variants=variants, crops=crops)


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
