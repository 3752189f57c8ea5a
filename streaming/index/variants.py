"""Dihedral matching: a query's 8 variant hashes probe an index holding each image's hash once.

A query matches an indexed image when one of its variants (the hash of the query turned or flipped)
is within the threshold of the indexed hash; the pair keeps its smallest distance and the transform
that gives it (the identity first on a tie). The variant that matched turns the query into the
indexed image, so the query is the indexed image under that variant's inverse: that is the
transform an alert reports. Storing the 8 variants instead and probing with one would cost 8 x the
resident memory for the same candidates; docs/robustness.md measures both.

With hashing.crops the index also holds its images' crops (crops.py), met by the query's own hash
only (its identity variant): a flipped crop is not found; and the query's own crops probe the
indexed hashes too (an image after its crop). On a tie the identity comes first, then the other
dihedral transforms, then the index's crops, then the query's, each from the smallest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from streaming.hashing.dihedral import TRANSFORM_NAMES, inverse
from streaming.index.crops import (
    crop_name,
    crop_percent,
    is_crop,
    is_uncrop,
    split_entry,
    uncrop_name,
)
from streaming.index.lookup import Pairs

# Separates an image id from its variant's number in the keys of one lookup of all variants.
_SEPARATOR = "\u001f"


class Near(NamedTuple):
    distance: int
    transform: str  # image = transform(match)


Found = dict[tuple[str, str], Near]  # (query id, indexed id) -> distance and transform
Lookup = Callable[[Sequence[str], Sequence[Sequence[int]], int], Pairs]


def near_probes(
    ids: Sequence[str],
    probes: Sequence[Sequence[int]],
    transforms: Sequence[str],
    threshold: int,
    near: Lookup,
) -> Found:
    """Every indexed image within threshold of one of each query's probes, by one call of `near`
    (a Lookup.near). `probes`: per query, the words of its probe hashes end to end, one per
    `transforms` (what an alert reports when that probe meets the indexed hash), the query's own
    hash first: with dihedral matching its 8 variants, with crops its own crops too (`uncrop20`:
    the match is the query's crop20). Crops the index holds meet the query's own hash alone."""
    if not ids:
        return {}
    count = len(transforms)
    flat = np.array(probes, dtype=np.int64).reshape(len(ids) * count, -1)
    # the own hash under the image's id (the sharded lookup knows an indexed id by it), the others
    # under a key of their own
    probed = [(image_id, p) for image_id in ids for p in range(count)]
    keys = [image_id if p == 0 else f"{image_id}{_SEPARATOR}{p}" for image_id, p in probed]
    by_key = dict(zip(keys, probed, strict=True))
    found: Found = {}
    for (key, entry), apart in near(keys, flat.tolist(), threshold).items():
        image_id, p = by_key[key]
        match, crop = split_entry(entry)
        if match != image_id and (crop is None or p == 0):
            _keep(found, (image_id, match), Near(apart, crop or transforms[p]))
    return found


def probes_of(
    hashes: Sequence[Sequence[int]],
    variants: Sequence[Sequence[int]] | None = None,
    crops: Sequence[Sequence[int]] | None = None,
    shares: Sequence[float] = (),
) -> tuple[list[list[int]], list[str]]:
    """Each query's probes as near_probes takes them, and the transform each stands for: its hash,
    or given `variants` (per query its 8 dihedral variants, words end to end, in
    dihedral.TRANSFORMS order) those; then given `shares` its crops (`crops`: per query the hashes
    of its crops, end to end in the order of `shares`)."""
    if variants is None:
        words, transforms = [list(h) for h in hashes], ["identity"]
    else:
        words, transforms = [list(v) for v in variants], [inverse(n) for n in TRANSFORM_NAMES]
    if shares:
        wanted = len(shares) * len(hashes[0]) if hashes else 0
        if crops is None or any(len(cut) != wanted for cut in crops):
            raise ValueError(f"each query needs the hashes of its {len(shares)} crops, as shares")
        words = [[*own, *cut] for own, cut in zip(words, crops, strict=True)]
        transforms += [uncrop_name(share) for share in shares]
    return words, transforms


def near_pairs_variants(
    queries: np.ndarray,
    stored: np.ndarray,
    threshold: int,
    transforms: Sequence[str],
    crops: Sequence[str] = (),
) -> list[tuple[int, int, Near]]:
    """(earlier, later, near) for each pair of one small set where one of the later image's
    probes is within threshold of the earlier image's hash, or the later's own hash of one of the
    earlier's crops. `queries`: n x len(transforms) x words uint64, each image's probes as
    near_probes takes them; `stored`: n x (1 + len(crops)) x words, each image's hash then its
    crops, named by `crops` (crops.crop_name)."""
    ways = [(p, 0, transform) for p, transform in enumerate(transforms)]
    ways += [(0, m, name) for m, name in enumerate(crops, start=1)]
    ways.sort(key=lambda way: tie_order(way[2]))
    apart = np.stack(
        [
            np.bitwise_count(queries[:, None, p, :] ^ stored[None, :, m, :]).sum(axis=2)
            for p, m, _ in ways
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


def undirected(found: Found) -> Found:
    """Each pair of `found` once, as (a, b) with a < b and the transform that turns a into b
    (b = transform(a)): for a search of one set against itself (a folder's dedup), which meets
    each pair from both sides. The smallest distance wins, then tie_order."""
    pairs: Found = {}
    for (image_id, match_id), near in found.items():
        if match_id < image_id:
            _keep(pairs, (match_id, image_id), near)
        else:
            _keep(pairs, (image_id, match_id), Near(near.distance, reverse(near.transform)))
    return pairs


def reverse(transform: str) -> str:
    """The transform of a pair seen from its other side: match = reverse(t)(image) when image =
    t(match). crop20 and uncrop20 swap; a dihedral transform turns into its inverse."""
    if is_crop(transform):
        share = crop_percent(transform) / 100
        return crop_name(share) if is_uncrop(transform) else uncrop_name(share)
    return inverse(transform)


def tie_order(transform: str) -> int:
    """The rank of a transform among those giving a pair the same distance (smallest first): the
    identity, the other dihedral transforms, the index's crops, the query's crops."""
    if is_uncrop(transform):
        return len(TRANSFORM_NAMES) + 100 + crop_percent(transform)
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
