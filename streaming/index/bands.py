"""Multi-index hashing: cut a hash into bands so that near neighbours are found by exact lookups.

Pigeonhole: if two hashes differ in at most k bits and the hash is cut into m bands, some band
differs in at most r = floor(k / m) bits. So an index that stores every image's band values, probed
with each query band value and every value within Hamming radius r of it, finds every pair within k;
exact verification of the full hash then removes the candidates that are further apart.

The number of bands trades probes against candidates: with band width w = bits / m, a query makes
m * sum_{i<=r} C(w, i) probes and each probe meets about N / 2^w unrelated index entries. plan_bands
picks the m that minimises probes * (1 + N / 2^w) for the expected index size N.
Bands never straddle a 64-bit word, so Spark extracts them with one shift and one mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations
from math import comb

WORD = 64


@dataclass(frozen=True)
class Band:
    word: int  # which 64-bit word of the hash
    shift: int  # the band is (word >> shift) & (2**width - 1), unsigned
    width: int


@dataclass(frozen=True)
class BandPlan:
    bits: int
    threshold: int
    bands: int
    radius: int

    @cached_property
    def layout(self) -> tuple[Band, ...]:
        """Bands in order, most significant first; per word, the wider bands come first."""
        words = -(-self.bits // WORD)
        per_word = self.bands // words
        layout = []
        for word in range(words):
            word_bits = min(WORD, self.bits - word * WORD)
            widths = [word_bits // per_word + (i < word_bits % per_word) for i in range(per_word)]
            top = word_bits
            for width in widths:
                top -= width
                layout.append(Band(word, top, width))
        return tuple(layout)

    def band_values(self, words: Sequence[int]) -> list[int]:
        return [(words[b.word] >> b.shift) & ((1 << b.width) - 1) for b in self.layout]

    def masks(self, band: int) -> list[int]:
        """The XOR masks of weight <= radius within one band: value ^ mask enumerates its probes."""
        width = self.layout[band].width
        return [
            sum(1 << bit for bit in flipped)
            for weight in range(self.radius + 1)
            for flipped in combinations(range(width), weight)
        ]

    def probes(self, words: Sequence[int]) -> list[tuple[int, int]]:
        """(band, value) for every value within `radius` of each of the hash's band values."""
        return [
            (band, value ^ mask)
            for band, value in enumerate(self.band_values(words))
            for mask in self.masks(band)
        ]

    def probes_per_query(self) -> int:
        return sum(len(self.masks(band)) for band in range(self.bands))


def plan_bands(bits: int, threshold: int, expected_size: int) -> BandPlan:
    """The plan with the lowest expected cost per query among those that keep the recall
    guarantee."""
    if not 0 <= threshold < bits:
        raise ValueError(f"threshold must be in [0, {bits}), got {threshold}")
    words = -(-bits // WORD)
    best: tuple[float, BandPlan] | None = None
    for per_word in range(1, WORD + 1):
        bands = per_word * words
        if bands > threshold + 1 and best is not None:
            break  # more bands than k + 1 only narrows them: radius is already 0
        radius = threshold // bands
        width = bits // bands
        probes = bands * sum(comb(width, i) for i in range(radius + 1))
        cost = probes * (1 + expected_size / 2**width)
        if best is None or cost < best[0]:
            best = (cost, BandPlan(bits, threshold, bands, radius))
    assert best is not None
    return best[1]
