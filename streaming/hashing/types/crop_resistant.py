"""crop-resistant: imagehash's dhash of each region of a segmentation, compared region by region."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
from PIL import Image

from streaming.hashing.decode import Decoded
from streaming.hashing.types.base import HashType, bits_apart
from streaming.hashing.words import segment_words

SEGMENTED_SIDE = 300  # imagehash segments a 300 px image: a reduced decode must keep that much


def fast(image: Decoded, hash_size: int) -> str:
    rgb = Image.fromarray(cv2.cvtColor(image.pixels, cv2.COLOR_BGR2RGB))
    return exact(rgb, hash_size)


def exact(image: Image.Image, hash_size: int) -> str:
    import imagehash

    return str(
        imagehash.crop_resistant_hash(image, lambda segment: imagehash.dhash(segment, hash_size))
    )


def distance(left: Sequence[int], right: Sequence[int], hash_size: int) -> int:
    """As imagehash's ImageMultiHash compares: the segments of `left` with no segment of `right`
    within a quarter of a segment's bits (0: every region matched)."""
    bits = CROP_RESISTANT.width(hash_size)
    right_segments = segment_words(right, bits)
    return sum(
        1
        for x in segment_words(left, bits)
        if not any(bits_apart(x, y) <= bits // 4 for y in right_segments)
    )


CROP_RESISTANT = HashType(
    "crop-resistant",
    fast,
    exact,
    colour=True,
    min_side=lambda _: SEGMENTED_SIDE,
    distance=distance,
    segmented=True,
)
