"""What a hash type is: how it is computed, how wide it is, how two hashes of it are compared.

A type is one `HashType` value, defined in the module of its family beside its kernels; the registry
(streaming.hashing.types) lists them. docs/architecture.md says how to add one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from PIL import Image

from streaming.hashing.decode import Decoded
from streaming.hashing.words import WORD_BITS, segment_words, words_to_hex

WORD_MASK = (1 << WORD_BITS) - 1


class Hashed(NamedTuple):
    """A hash in imagehash's hex format, and the type's extra columns (PDQ's quality)."""

    hex: str
    extras: Mapping[str, int] = {}


# A kernel returns the hex, or a Hashed when its type has extra columns.
FastKernel = Callable[[Decoded, int], "str | Hashed"]  # (the shared decode, hash_size)
ExactKernel = Callable[[Image.Image, int], "str | Hashed"]  # (imagehash's PIL image, hash_size)
# (the shared decode, hash_size) -> the hash of each of dihedral.TRANSFORMS, identity first.
Variants = Callable[[Decoded, int], list[str]]
# (left words, right words, hash_size) -> the distance an alert reports; None where incomparable.
Distance = Callable[[Sequence[int], Sequence[int], int], "int | None"]


def square(hash_size: int) -> int:
    """The bits of a hash_size x hash_size grid of bits."""
    return hash_size * hash_size


def grid_min_side(hash_size: int) -> int:
    """8x the largest grid a grid hash resizes to (phash's 4 * hash_size): fewer than 1 bit in 20
    then differs from the hash of the full decode."""
    return 32 * hash_size


def bits_apart(left: Sequence[int], right: Sequence[int]) -> int:
    """Bits that differ between two hashes of as many words."""
    # the words are signed: mask to 64 bits before counting
    return sum(((x ^ y) & WORD_MASK).bit_count() for x, y in zip(left, right, strict=True))


def hamming(left: Sequence[int], right: Sequence[int], hash_size: int) -> int | None:
    """The distance of most types: bits apart; None if the widths differ (whash-db4 of two image
    scales)."""
    return bits_apart(left, right) if len(left) == len(right) else None


@dataclass(frozen=True)
class HashType:
    """One hash type: its kernels and what the index, the matching and the alerts need to know."""

    name: str
    fast: FastKernel  # from the one decode hash_image shares between types
    exact: ExactKernel  # imagehash itself (or the reference library), bit for bit
    bits: Callable[[int], int] | None = square  # per hash_size; None: grows with the image
    bandable: bool = False  # can be the primary hash (a fixed width the bands can cut)
    colour: bool = False  # the fast kernel reads Decoded.pixels in colour, not only .gray
    min_side: Callable[[int], int] = grid_min_side  # the shorter side a reduced decode must keep
    distance: Distance = hamming
    segmented: bool = False  # a list of hashes, one per image region (imagehash's ImageMultiHash)
    extras: tuple[str, ...] = ()  # INT columns the kernels fill besides the hash
    variants: Variants | None = None  # its dihedral variants from one decode, if it has them

    @property
    def column(self) -> str:
        """The column (and Delta field) that holds the hash: "whash-db4" -> "whash_db4"."""
        return self.name.replace("-", "_")

    def width(self, hash_size: int) -> int:
        """Bits of one hash (of one segment, for a segmented type)."""
        if self.bits is None:
            raise ValueError(f"{self.name} has no fixed width: it depends on the image size")
        return self.bits(hash_size)

    def words(self, hash_size: int) -> int:
        """BIGINT words of one hash as the index stores it (its width is a multiple of 64)."""
        return self.width(hash_size) // 64

    def hex_from_words(self, words: Sequence[int], hash_size: int) -> str:
        """The hex of a hash stored as BIGINT words (the inverse of words.hex_to_words)."""
        bits = self.width(hash_size)
        if self.segmented:
            return ",".join(words_to_hex(segment, bits) for segment in segment_words(words, bits))
        return words_to_hex(words, bits)


def hashed(result: str | Hashed) -> Hashed:
    """A kernel's result as a Hashed."""
    return result if isinstance(result, Hashed) else Hashed(result)
