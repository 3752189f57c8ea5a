"""Hex strings in imagehash's format <-> BIGINT words for Spark, and the width of each hash type."""

from __future__ import annotations

from collections.abc import Sequence

WORD_BITS = 64
COLORHASH_BINBITS = 3  # imagehash's default: 14 bins of 3 bits


def hash_bits(hash_type: str, hash_size: int) -> int:
    """Bits of one hash (of one segment, for crop-resistant). whash-db4 has no fixed width: db4's
    filters pad the low band, so its size grows with the image's power-of-2 scale (imagehash's
    behaviour too)."""
    if hash_type == "whash-db4":
        raise ValueError("whash-db4 has no fixed width: it depends on the image size")
    if hash_type == "pdq":
        return 256
    if hash_type == "colorhash":
        return 14 * COLORHASH_BINBITS
    return hash_size * hash_size


def bits_to_hex(bits) -> str:
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


def words_to_hex(words: list[int], hash_type: str, hash_size: int) -> str:
    bits = hash_bits(hash_type, hash_size)
    if hash_type == "crop-resistant":  # one hash per segment, each of `bits`
        return ",".join(_words_to_hex(segment, bits) for segment in segment_words(words, bits))
    return _words_to_hex(words, bits)


def segment_words(words: Sequence[int], bits: int) -> list[Sequence[int]]:
    """A multi-hash's words, one group per segment of `bits` (a segment of hash_size 16 spans 4
    words)."""
    per_segment = -(-bits // WORD_BITS)
    return [words[i : i + per_segment] for i in range(0, len(words), per_segment)]


def _words_to_hex(words: list[int], bits: int) -> str:
    value = 0
    for word in words:
        value = (value << WORD_BITS) | (word & (2**WORD_BITS - 1))
    return f"{value:0{-(-bits // 4)}x}"
