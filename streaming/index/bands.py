"""Multi-index hashing: cut a hash into bands so that near neighbours are found by exact lookups.

Generalised pigeonhole: if two hashes differ in at most k bits and the hash is cut into m bands,
band i searched within its own radius r_i, some band differs by at most its r_i as long as
sum(r_i) >= k - m + 1 (were every band i apart by r_i + 1 or more, the hashes would differ in at
least sum(r_i) + m > k bits). So an index that stores every image's band values, probed with each
query band value and every value within r_i of it, finds every pair within k; exact verification of
the full hash then removes the candidates that are further apart.

The number of bands and the radii trade probes against candidates: band i of width w_i makes
sum_{j<=r_i} C(w_i, j) probes, and each probe meets about N / 2^w_i unrelated index entries.
plan_bands picks the band count and the radii that minimise sum_i probes_i * (1 + N / 2^w_i) for the
expected index size N (docs/matching.md, "Per-band radii").
Bands never straddle a 64-bit word, so Spark extracts them with one shift and one mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property
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
    radii: tuple[int, ...]  # band i is searched within radii[i] bits of the query's band value

    def __post_init__(self) -> None:
        if len(self.radii) != self.bands or min(self.radii, default=0) < 0:
            raise ValueError(f"{self.bands} bands need as many radii >= 0, got {self.radii}")
        if sum(self.radii) + self.bands <= self.threshold:
            raise ValueError(
                f"radii {self.radii} miss pairs {self.threshold} bits apart: their sum must be at "
                f"least threshold - bands + 1 = {self.threshold - self.bands + 1}"
            )

    @cached_property
    def layout(self) -> tuple[Band, ...]:
        return cut(self.bits, self.bands)

    def band_values(self, words: Sequence[int]) -> list[int]:
        return [(words[b.word] >> b.shift) & ((1 << b.width) - 1) for b in self.layout]

    def masks(self, band: int) -> list[int]:
        """The XOR masks of weight <= the band's radius: value ^ mask enumerates its probes."""
        width = self.layout[band].width
        return [
            sum(1 << bit for bit in flipped)
            for weight in range(self.radii[band] + 1)
            for flipped in combinations(range(width), weight)
        ]

    def probes(self, words: Sequence[int]) -> list[tuple[int, int]]:
        """(band, value) for every value within its band's radius of each of the hash's band
        values."""
        return [
            (band, value ^ mask)
            for band, value in enumerate(self.band_values(words))
            for mask in self.masks(band)
        ]

    def probes_per_query(self) -> int:
        return sum(
            within(band.width, radius) for band, radius in zip(self.layout, self.radii, strict=True)
        )

    def cost(self, expected_size: int) -> int:
        """Expected probes plus candidates per query, times 2^bits (an integer, so that plans of
        equal cost compare equal)."""
        return sum(
            band_cost(self.bits, band.width, radius, expected_size)
            for band, radius in zip(self.layout, self.radii, strict=True)
        )


def cut(bits: int, bands: int) -> tuple[Band, ...]:
    """Bands in order, most significant first; per word, the wider bands come first."""
    words = -(-bits // WORD)
    per_word = bands // words
    layout = []
    for word in range(words):
        word_bits = min(WORD, bits - word * WORD)
        widths = [word_bits // per_word + (i < word_bits % per_word) for i in range(per_word)]
        top = word_bits
        for width in widths:
            top -= width
            layout.append(Band(word, top, width))
    return tuple(layout)


def within(width: int, radius: int) -> int:
    """Values within `radius` of one value of a band `width` bits wide."""
    return sum(comb(width, i) for i in range(radius + 1))


def band_cost(bits: int, width: int, radius: int, expected_size: int) -> int:
    """probes x (1 + N / 2^width), times 2^bits."""
    return within(width, radius) * (2**width + expected_size) << (bits - width)


@cache
def plan_bands(bits: int, threshold: int, expected_size: int) -> BandPlan:
    """The plan with the lowest expected cost per query among those that keep the recall
    guarantee."""
    if not 0 <= threshold < bits:
        raise ValueError(f"threshold must be in [0, {bits}), got {threshold}")
    words = -(-bits // WORD)
    best: BandPlan | None = None
    for per_word in range(1, WORD + 1):
        bands = per_word * words
        if bands > threshold + 1 and best is not None:
            break  # more bands than k + 1 only narrows them: every radius is already 0
        plan = spread(bits, threshold, bands, expected_size)
        if best is None or plan.cost(expected_size) < best.cost(expected_size):
            best = plan
    assert best is not None
    return best


def spread(bits: int, threshold: int, bands: int, expected_size: int) -> BandPlan:
    """The plan of this many bands whose radii sum to threshold - bands + 1 (the least that keeps
    the guarantee) at the lowest expected cost: a knapsack over the bands, exact."""
    budget = max(threshold - bands + 1, 0)
    # radii spent so far -> (cost, radii) of the cheapest first bands spending it
    cheapest: dict[int, tuple[int, tuple[int, ...]]] = {0: (0, ())}
    for band in cut(bits, bands):
        grown: dict[int, tuple[int, tuple[int, ...]]] = {}
        for spent, (cost, radii) in cheapest.items():
            for radius in range(min(band.width, budget - spent) + 1):
                option = (
                    cost + band_cost(bits, band.width, radius, expected_size),
                    (*radii, radius),
                )
                grown[spent + radius] = min(grown.get(spent + radius, option), option)
        cheapest = grown
    return BandPlan(bits, threshold, bands, cheapest[budget][1])


def even(bits: int, threshold: int, bands: int) -> BandPlan:
    """The plan of this many bands each searched within threshold // bands: what every plan was
    before per-band radii (kept for benchmarks against it)."""
    return BandPlan(bits, threshold, bands, (threshold // bands,) * bands)
