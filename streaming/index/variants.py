"""Dihedral matching: a query's 8 variant hashes probe an index holding each image's hash once.

A query matches an indexed image when one of its variants (the hash of the query turned or flipped)
is within the threshold of the indexed hash; the pair keeps its smallest distance and the transform
that gives it (the identity first on a tie). The variant that matched turns the query into the
indexed image, so the query is the indexed image under that variant's inverse: that is the
transform an alert reports. Storing the 8 variants instead and probing with one would cost 8 x the
resident memory for the same candidates; docs/robustness.md measures both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from streaming.hashing.dihedral import TRANSFORM_NAMES, inverse
from streaming.index.lookup import Pairs

# Separates an image id from its variant's number in the keys of one lookup of all variants.
_SEPARATOR = "\u001f"


class Near(NamedTuple):
    distance: int
    transform: str  # image = transform(match)


Found = dict[tuple[str, str], Near]  # (query id, indexed id) -> distance and transform
Lookup = Callable[[Sequence[str], Sequence[Sequence[int]], int], Pairs]


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
    for (key, match), apart in near(keys, flat.reshape(len(keys), -1).tolist(), threshold).items():
        image_id, k = key.rsplit(_SEPARATOR, 1)
        if match != image_id:
            _keep(found, (image_id, match), apart, int(k))
    return found


def near_pairs_variants(variants: np.ndarray, threshold: int) -> list[tuple[int, int, Near]]:
    """(earlier, later, near) for each pair of one small set (n x 8 x words uint64) where one of the
    later image's variants is within threshold of the earlier image's hash."""
    identity = variants[:, 0]
    apart = np.bitwise_count(variants[:, None, :, :] ^ identity[None, :, None, :]).sum(axis=3)
    best = apart.argmin(axis=2)  # the first variant of the smallest distance
    smallest = np.take_along_axis(apart, best[:, :, None], axis=2)[:, :, 0]
    later, earlier = np.nonzero((smallest <= threshold) & np.tri(len(variants), k=-1, dtype=bool))
    return [
        (int(e), int(la), Near(int(smallest[la, e]), inverse(TRANSFORM_NAMES[best[la, e]])))
        for e, la in zip(earlier, later, strict=True)
    ]


def _keep(found: Found, pair: tuple[str, str], apart: int, variant: int) -> None:
    near = Near(apart, inverse(TRANSFORM_NAMES[variant]))
    kept = found.get(pair)
    order = TRANSFORM_NAMES.index
    if kept is None or (apart, variant) < (kept.distance, order(inverse(kept.transform))):
        found[pair] = near
