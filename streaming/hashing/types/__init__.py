"""The registry of hash types: every part of neardup that needs to know a hash type reads it here.

Adding a type is a module beside these (its kernels and its HashType), one line in REGISTRY and its
column in schemas/delta/images.sql; tests/hashing/test_hash_types.py then checks it like the others.
"""

from __future__ import annotations

from streaming.hashing.types import (
    average,
    colour,
    crop_resistant,
    difference,
    pdq,
    perceptual,
    wavelet,
)
from streaming.hashing.types.base import Hashed, HashType, hashed

__all__ = [
    "BANDABLE_TYPES",
    "DIHEDRAL_TYPES",
    "EXTRA_COLUMNS",
    "HASH_TYPES",
    "REGISTRY",
    "HashType",
    "Hashed",
    "hash_type",
    "hashed",
]

# In the order of the DDL's columns, the help texts and the documentation.
REGISTRY: dict[str, HashType] = {
    t.name: t
    for t in (
        average.AHASH,
        perceptual.PHASH,
        difference.DHASH,
        wavelet.WHASH,
        wavelet.WHASH_DB4,
        colour.COLORHASH,
        crop_resistant.CROP_RESISTANT,
        pdq.PDQ,
    )
}
HASH_TYPES = tuple(REGISTRY)
BANDABLE_TYPES = tuple(name for name, t in REGISTRY.items() if t.bandable)
# The types whose 8 dihedral variants come from one decode (hashing.dihedral matches with them).
DIHEDRAL_TYPES = tuple(name for name, t in REGISTRY.items() if t.variants)
# The INT columns of every type's extras: hashed frames and the index always carry them.
EXTRA_COLUMNS = tuple(column for t in REGISTRY.values() for column in t.extras)


def hash_type(name: str) -> HashType:
    """The registered type of this name; ValueError naming the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown hash type {name!r}; known: {', '.join(HASH_TYPES)}") from None
