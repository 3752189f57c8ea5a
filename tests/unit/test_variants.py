"""Dihedral matching over words and the rule over several hashes: pure functions, no Spark."""

from __future__ import annotations

import numpy as np
import pytest

from streaming.hashing.dihedral import TRANSFORM_NAMES, inverse
from streaming.index.bands import plan_bands
from streaming.index.lookup import Pairs
from streaming.index.pairs import as_words
from streaming.index.rule import Rule
from streaming.index.sorted_bands import SortedBands
from streaming.index.variants import (
    Near,
    near_pairs_variants,
    near_probes,
    probes_of,
    reverse,
    undirected,
)

RNG = np.random.default_rng(7)
# What each of a query's 8 variants reports when it meets an indexed hash.
TURNED = [inverse(name) for name in TRANSFORM_NAMES]


def random_variants(count: int) -> np.ndarray:
    """count x 8 x 1 uint64: unrelated random hashes."""
    return RNG.integers(0, 2**63, (count, 8, 1), dtype=np.int64).view(np.uint64)


def flipped(word: int, bits: int) -> int:
    return word ^ sum(1 << int(b) for b in RNG.choice(64, bits, replace=False))


def signed(words: np.ndarray) -> list[list[int]]:
    return words.view(np.int64).reshape(len(words), -1).tolist()


def resident(ids: list[str], words: np.ndarray, threshold: int):
    """Lookup.near over a SortedBands holding `words` (n x 1) under `ids`."""
    bands = SortedBands(plan_bands(64, threshold, len(ids)))
    bands.add(ids, words)

    def near(keys, hashes, radius) -> Pairs:
        found = bands.search(as_words(hashes, 1), radius)
        return {(keys[row], match): apart for row, match, apart in found}

    return near


def test_a_variant_finds_the_indexed_image_and_says_which_transform() -> None:
    stored = random_variants(50)[:, 0]
    queries = random_variants(3)
    queries[0, 5] = flipped(int(stored[7, 0]), 3)  # variant 5 (rot90) of query a near image 7
    queries[1, 0] = flipped(int(stored[9, 0]), 1)  # query b itself near image 9
    near = resident([f"i{n}" for n in range(50)], stored, 10)
    found = near_probes(["a", "b", "c"], signed(queries.reshape(3, -1)), TURNED, 10, near)
    assert found == {
        ("a", "i7"): Near(3, inverse(TRANSFORM_NAMES[5])),
        ("b", "i9"): Near(1, "identity"),
    }
    assert inverse(TRANSFORM_NAMES[5]) == "rot270"  # the query turned by rot90 is the match


def test_the_smallest_distance_wins_and_an_image_never_matches_itself() -> None:
    stored = random_variants(20)[:, 0]
    queries = random_variants(1)
    queries[0, 1] = flipped(int(stored[4, 0]), 6)
    queries[0, 3] = flipped(int(stored[4, 0]), 2)
    queries[0, 0] = stored[0, 0]  # the query is indexed under its own id
    near = resident([f"i{n}" for n in range(20)], stored, 10)
    found = near_probes(["i0"], signed(queries.reshape(1, -1)), TURNED, 10, near)
    assert found == {("i0", "i4"): Near(2, "rot180")}


def test_pairs_within_a_batch_compare_the_later_variants_with_the_earlier_hash() -> None:
    variants = random_variants(4)
    variants[3, 1] = flipped(int(variants[0, 0, 0]), 2)  # image 3, flipped, is image 0
    variants[1, 0] = flipped(int(variants[2, 0, 0]), 1)  # image 1 before image 2: found once
    found = near_pairs_variants(variants, variants[:, :1], 8, TURNED)
    assert sorted(found) == [(0, 3, Near(2, "flip_h")), (1, 2, Near(1, "identity"))]


def test_probes_are_the_hash_or_its_variants_then_its_crops() -> None:
    turned = [list(range(8))]
    assert probes_of([[0]]) == ([[0]], ["identity"])
    assert probes_of([[0]], turned) == ([list(range(8))], TURNED)
    assert probes_of([[0]], None, [[5, 6]], (0.1, 0.2)) == (
        [[0, 5, 6]],
        ["identity", "uncrop10", "uncrop20"],
    )
    with pytest.raises(ValueError, match="its 2 crops"):
        probes_of([[0]], turned, [[5]], (0.1, 0.2))  # the crops of other shares


def test_a_pair_met_from_both_sides_is_kept_once_turning_the_first_into_the_second() -> None:
    found = {
        ("b", "a"): Near(3, "rot90"),  # b = rot90(a)
        ("a", "b"): Near(3, "rot270"),  # a = rot270(b): the same pair
        ("c", "d"): Near(4, "uncrop20"),  # c = uncrop20(d): d is c's crop20
        ("d", "c"): Near(4, "crop20"),
        ("e", "f"): Near(2, "identity"),
        ("f", "e"): Near(5, "flip_h"),  # the smaller distance wins
        ("g", "h"): Near(3, "flip_h"),
        ("h", "g"): Near(3, "identity"),  # on a tie, the identity first
    }
    assert undirected(found) == {
        ("a", "b"): Near(3, "rot90"),
        ("c", "d"): Near(4, "crop20"),
        ("e", "f"): Near(2, "identity"),
        ("g", "h"): Near(3, "identity"),
    }
    assert [reverse(t) for t in ("rot90", "flip_v", "crop10", "uncrop20")] == [
        "rot270",
        "flip_v",
        "uncrop10",
        "crop20",
    ]


def test_a_rule_accepts_when_one_alternative_holds() -> None:
    rule = Rule.parse("phash <= 8 or phash <= 16 and dhash <= 12", "phash")
    assert rule.radius("phash") == 16
    assert rule.types == {"phash", "dhash"}
    assert rule.accepts({"phash": 8, "dhash": 40})
    assert rule.accepts({"phash": 15, "dhash": 12})
    assert not rule.accepts({"phash": 15, "dhash": 13})
    assert not rule.accepts({"phash": 15, "dhash": None})
    assert str(Rule.parse(str(rule), "phash")) == str(rule)


@pytest.mark.parametrize(
    ("text", "why"),
    [("phash < 8", "form"), ("dhash <= 8", "bound phash"), ("phash <= 4 or dhash <= 2", "bound")],
)
def test_a_rule_that_cannot_be_looked_up_is_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Rule.parse(text, "phash")
