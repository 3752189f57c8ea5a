"""Crop matching's pure pieces (hashing.crops): the stored column, the index entries a lookup
builds from it, and the pairs met through a crop, in the index and within a batch."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from streaming.index.bands import plan_bands
from streaming.index.crops import (
    crop_name,
    entries,
    entry_key,
    split_entry,
    stored_crops,
    uncrop_name,
)
from streaming.index.lookup import Pairs
from streaming.index.pairs import as_words
from streaming.index.sorted_bands import SortedBands
from streaming.index.variants import Near, near_pairs_variants, near_probes

RNG = np.random.default_rng(11)


def random_words(count: int) -> list[int]:
    return RNG.integers(-(2**63), 2**63 - 1, count, dtype=np.int64).tolist()


def flipped(word: int, bits: int) -> int:
    """A signed word with its lowest `bits` bits flipped."""
    unsigned = (word % 2**64) ^ ((1 << bits) - 1)
    return unsigned - 2**64 if unsigned >= 2**63 else unsigned


def test_crops_are_named_by_their_share_and_stored_after_it():
    assert [crop_name(share) for share in (0.1, 0.15, 0.2)] == ["crop10", "crop15", "crop20"]
    assert uncrop_name(0.2) == "uncrop20"
    assert stored_crops([7, 8, 9, 10], [0.1, 0.2]) == [10, 7, 8, 20, 9, 10]
    assert stored_crops(None, [0.1]) is None and stored_crops([1], []) is None
    assert split_entry(entry_key("a/b.jpg", "crop20")) == ("a/b.jpg", "crop20")
    assert split_entry("a/b.jpg") == ("a/b.jpg", None)
    assert split_entry(entry_key("a", "uncrop20")) == (entry_key("a", "uncrop20"), None)


def table(rows: list[tuple[str, list[int] | None, list[int] | None]]) -> pa.Table:
    ids, hashes, crops = zip(*rows, strict=True)
    words = pa.list_(pa.int64())
    return pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "phash": pa.array(hashes, words),
            "crops": pa.array(crops, words),
        }
    )


def test_each_stored_crop_is_one_more_entry_of_its_image():
    rows = table(
        [
            ("a", [1], stored_crops([2, 3], [0.1, 0.2])),
            ("b", [4], None),  # registered without crops
            ("c", None, None),  # without the primary hash: not banded
            ("d", [5], [30, 6]),  # crops of another configuration name themselves
        ]
    )
    keys, words = entries(rows, "phash", 1)
    assert (keys.to_pylist(), words[:, 0].tolist()) == (["a", "b", "d"], [1, 4, 5])
    keys, words = entries(rows, "phash", 1, crops=True)
    assert keys.to_pylist() == ["a", "b", "d", *(entry_key(*k) for k in CROP_KEYS)]
    assert words.dtype == np.uint64 and words[:, 0].tolist() == [1, 4, 5, 2, 3, 6]


CROP_KEYS = [("a", "crop10"), ("a", "crop20"), ("d", "crop30")]


def resident(rows: pa.Table, threshold: int):
    """Lookup.near over SortedBands holding the rows' entries, as the memory lookup does."""
    bands = SortedBands(plan_bands(64, threshold, 100))
    bands.add(*entries(rows, "phash", 1, crops=True))

    def near(ids, hashes, radius) -> Pairs:
        found = bands.search(as_words(hashes, 1), radius)
        return {(ids[row], match): apart for row, match, apart in found if match != ids[row]}

    return near


def test_a_query_meets_a_crop_and_the_smallest_distance_wins():
    own, crop10, crop20, other = random_words(4)
    rows = table([("a", [own], stored_crops([crop10, crop20], [0.1, 0.2])), ("z", [other], None)])
    near = resident(rows, 8)
    far = random_words(2)
    queries = {  # each query's hash, then its crop10 and crop20
        "q": [flipped(crop20, 3), *far],  # a's crop20
        "a": [crop20, *far],  # a itself, sent again: never a match of its own crop
        "t": [flipped(own, 2), *far],
        "u": [other, flipped(own, 4), crop20],  # a is u's crop10; u's crop20 meets no crop
    }
    transforms = ["identity", "uncrop10", "uncrop20"]
    found = near_probes(list(queries), list(queries.values()), transforms, 8, near)
    assert found == {
        ("q", "a"): Near(3, "crop20"),
        ("t", "a"): Near(2, "identity"),
        ("u", "a"): Near(4, "uncrop10"),
        ("u", "z"): Near(0, "identity"),
    }


def test_within_a_batch_the_later_image_meets_the_earlier_crops_and_with_its_own_the_reverse():
    stored = np.array(random_words(9), np.int64).view(np.uint64).reshape(3, 3, 1)  # hash, crops
    stored[1, 0, 0] = stored[0, 2, 0] ^ np.uint64(0b11)  # image 1 is image 0's crop20
    stored[2, 2, 0] = stored[0, 0, 0]  # image 0 is image 2's crop20: earlier, not found
    found = near_pairs_variants(stored[:, :1], stored, 6, ["identity"], ["crop10", "crop20"])
    assert found == [(0, 1, Near(2, "crop20"))]
    # probing with the later image's crops too: image 2's crop20 is image 0
    probes = ["identity", "uncrop10", "uncrop20"]
    found = near_pairs_variants(stored, stored, 6, probes, ["crop10", "crop20"])
    assert found == [(0, 1, Near(2, "crop20")), (0, 2, Near(0, "uncrop20"))]
