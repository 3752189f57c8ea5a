"""Dihedral matching: a query's 8 variant hashes probe an index holding each image's hash once.

A query matches an indexed image when one of its variants (the hash of the query turned or flipped)
is within the threshold of the indexed hash; the pair keeps its smallest distance and the transform
that gives it (the identity first on a tie). The variant that matched turns the query into the
indexed image, so the query is the indexed image under that variant's inverse: that is the
transform an alert reports. Storing the 8 variants instead and probing with one would cost 8 x the
resident memory for the same candidates; docs/robustness.md measures both.

With hashing.crops the index also holds its images' crops (crops.py), met by the query's own hash
only (its identity variant): a flipped crop is not found. On a tie the identity comes first, then
the other dihedral transforms, then the crops from the smallest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from streaming.hashing.dihedral import TRANSFORM_NAMES, inverse
from streaming.index.crops import crop_percent, is_crop, split_entry
from streaming.index.lookup import Pairs

# Separates an image id from its variant's number in the keys of one lookup of all variants.
_SEPARATOR = "\u001f"


class Near(NamedTuple):
    distance: int
    transform: str  # image = transform(match)


Found = dict[tuple[str, str], Near]  # (query id, indexed id) -> distance and transform
Lookup = Callable[[Sequence[str], Sequence[Sequence[int]], int], Pairs]


def near_hashes(
    ids: Sequence[str], hashes: Sequence[Sequence[int]], threshold: int, near: Lookup
) -> Found:
    """Every indexed image within threshold of each query's own hash (or of a crop the index holds
    of it), by one call of `near` (a Lookup.near)."""
    found: Found = {}
    for (image_id, entry), apart in near(ids, hashes, threshold).items():
        match, crop = split_entry(entry)
        if match != image_id:
            _keep(found, (image_id, match), Near(apart, crop or "identity"))
    return found


def near_variants(
    ids: Sequence[str], variants: Sequence[Sequence[int]], threshold: int, near: Lookup
) -> Found:
    """Every indexed image within threshold of one of each query's variants, by one call of `near`
    (a Lookup.near). `variants`: per query, the words of its 8 variant hashes end to end, in
    dihedral.TRANSFORMS order."""
    if not ids:
        return {}
    flat = np.array(variants, dtype=np.int64).reshape(len(ids), len(TRANSFORM_NAMES), -1)
    keys = [f"{image_id}{_SEPARATOR}{k}" for image_id in ids for k in range(len(TRANSFORM_NAMES))]
    found: Found = {}
    for (key, entry), apart in near(keys, flat.reshape(len(keys), -1).tolist(), threshold).items():
        image_id, k = key.rsplit(_SEPARATOR, 1)
        match, crop = split_entry(entry)
        if match != image_id and (crop is None or k == "0"):
            transform = crop or inverse(TRANSFORM_NAMES[int(k)])
            _keep(found, (image_id, match), Near(apart, transform))
    return found


def near_pairs_variants(
    queries: np.ndarray, stored: np.ndarray, threshold: int, crops: Sequence[str] = ()
) -> list[tuple[int, int, Near]]:
    """(earlier, later, near) for each pair of one small set where one of the later image's
    variants is within threshold of the earlier image's hash, or the later's own hash of one of
    the earlier's crops. `queries`: n x K x words uint64, each image's K variants (K = 1: its hash
    alone); `stored`: n x (1 + len(crops)) x words, each image's hash then its crops, named by
    `crops` (crops.crop_name)."""
    ways = [(k, 0, inverse(TRANSFORM_NAMES[k])) for k in range(queries.shape[1])]
    ways += [(0, m, name) for m, name in enumerate(crops, start=1)]
    apart = np.stack(
        [
            np.bitwise_count(queries[:, None, k, :] ^ stored[None, :, m, :]).sum(axis=2)
            for k, m, _ in ways
        ],
        axis=2,
    )
    best = apart.argmin(axis=2)  # the first way of the smallest distance, in tie order
    smallest = np.take_along_axis(apart, best[:, :, None], axis=2)[:, :, 0]
    later, earlier = np.nonzero((smallest <= threshold) & np.tri(len(queries), k=-1, dtype=bool))
    return [
        (int(e), int(la), Near(int(smallest[la, e]), ways[best[la, e]][2]))
        for e, la in zip(earlier, later, strict=True)
    ]


def tie_order(transform: str) -> int:
    """The rank of a transform among those giving a pair the same distance (smallest first)."""
    if is_crop(transform):
        return len(TRANSFORM_NAMES) + crop_percent(transform)
    return TRANSFORM_NAMES.index(inverse(transform))


def _keep(found: Found, pair: tuple[str, str], near: Near) -> None:
    kept = found.get(pair)
    if kept is None or (near.distance, tie_order(near.transform)) < (
        kept.distance,
        tie_order(kept.transform),
    ):
        found[pair] = near
