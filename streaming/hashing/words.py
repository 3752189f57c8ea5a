"""Hex strings in imagehash's format <-> BIGINT words for Spark."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

WORD_BITS = 64


def bits_to_hex(bits: Iterable[object]) -> str:
    """imagehash's _binary_array_to_hex: the bits row-major, most significant first, zero-padded."""
    flat = "".join("1" if b else "0" for b in bits)
    return f"{int(flat, 2):0{-(-len(flat) // 4)}x}"


def hex_to_words(hex_hash: str) -> list[int]:
    """Signed 64-bit words, most significant first; a multi-hash ("a,b,c") gives one word per
    segment."""
    if "," in hex_hash:
        return [word for segment in hex_hash.split(",") for word in hex_to_words(segment)]
    value = int(hex_hash, 16)
    count = max(1, -(-len(hex_hash) * 4 // WORD_BITS))
    words = [(value >> (WORD_BITS * (count - 1 - i))) & (2**WORD_BITS - 1) for i in range(count)]
    return [w - 2**WORD_BITS if w >= 2 ** (WORD_BITS - 1) else w for w in words]


def words_to_hex(words: Sequence[int], bits: int) -> str:
    """The hex of one hash of `bits` bits held in `words`."""
    value = 0
    for word in words:
        value = (value << WORD_BITS) | (word & (2**WORD_BITS - 1))
    return f"{value:0{-(-bits // 4)}x}"


def segment_words(words: Sequence[int], bits: int) -> list[Sequence[int]]:
    """A multi-hash's words, one group per segment of `bits` (a segment of hash_size 16 spans 4
    words)."""
    per_segment = -(-bits // WORD_BITS)
    return [words[i : i + per_segment] for i in range(0, len(words), per_segment)]
