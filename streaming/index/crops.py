"""Crop matching (hashing.crops): the index holds, beside each image's primary hash, the hashes of
its central crops, and a later image's hash meets one of them when it is that crop.

A crop's share is the part of the width and of the height cut off, half on each side: 0.2 keeps
the central 80 % and is named `crop20`, the transform an alert reports (image = crop20(match)).
The `images` table stores them in one column (CROPS_COLUMN): per crop, its share in percent, then
the primary hash's words, so a row says which crops it holds whatever hashing.crops says later.
A lookup indexes each stored crop as one more entry of its image, keyed by entry_key; split_entry
reads the key back. A query probes with its own crops too, so an image after its crop is found
(`uncrop20`: the match is the image's crop20). docs/robustness.md measures what crops find and
cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CROPS_COLUMN = "crops"  # of schemas/delta/images.sql
PREFIX = "crop"
UNCROP = "uncrop"
# Separates an image id from the crop it holds in the key of an index entry.
SEPARATOR = "\u001f"


def percent(share: float) -> int:
    return round(share * 100)


def crop_name(share: float) -> str:
    """The transform of a crop: 0.2 -> "crop20"."""
    return f"{PREFIX}{percent(share)}"


def uncrop_name(share: float) -> str:
    """The transform of a query's crop meeting an indexed image: the match is that crop of the
    image (image = uncrop20(match)): 0.2 -> "uncrop20"."""
    return f"{UNCROP}{percent(share)}"


def is_crop(transform: str) -> bool:
    """Whether a pair was met through a crop, of the match or of the image."""
    return transform.startswith((PREFIX, UNCROP))


def is_uncrop(transform: str) -> bool:
    return transform.startswith(UNCROP)


def crop_percent(transform: str) -> int:
    """The share in percent of a crop's transform: "crop20" or "uncrop20" -> 20."""
    return int(transform.removeprefix(UNCROP).removeprefix(PREFIX))


def entry_key(image_id: str, transform: str) -> str:
    """The key under which a lookup indexes an image's crop."""
    return f"{image_id}{SEPARATOR}{transform}"


def split_entry(key: str) -> tuple[str, str | None]:
    """(image id, its crop's transform) of an index entry; (id, None) for the image's own hash."""
    image_id, separator, transform = key.rpartition(SEPARATOR)
    if separator and transform.startswith(PREFIX):
        return image_id, transform
    return key, None


def stored_crops(words: Sequence[int] | None, shares: Sequence[float]) -> list[int] | None:
    """The CROPS_COLUMN value of an image: its crop hashes (words end to end, in the order of
    `shares`, as the ingest carries them), each after its share in percent; None without any."""
    if words is None or not shares:
        return None
    width = len(words) // len(shares)
    return [
        value
        for k, share in enumerate(shares)
        for value in (percent(share), *words[k * width : (k + 1) * width])
    ]


def entries(
    table: pa.Table, column: str, words: int, crops: bool = False
) -> tuple[pa.Array, np.ndarray]:
    """(keys, n x words uint64) of the index entries of `images` rows (their `id`, hash `column`
    and with `crops` CROPS_COLUMN, if the rows have it): each row's own hash under its id, then
    each stored crop under entry_key. A hash or crop of another width is left out."""
    hashes = table[column].combine_chunks()
    own = table.filter(pc.equal(pc.list_value_length(hashes), words))
    keys = [pc.cast(own["id"].combine_chunks(), pa.string())]
    found = [_words(own[column].combine_chunks(), words)]
    if crops and CROPS_COLUMN in table.column_names:
        stored = table[CROPS_COLUMN].combine_chunks()
        lengths = pc.list_value_length(stored).fill_null(0).to_numpy(zero_copy_only=False)
        held = (lengths > 0) & (lengths % (words + 1) == 0)
        rows = np.repeat(np.flatnonzero(held), lengths[held] // (words + 1))
        values = _words(stored.filter(pa.array(held)), words + 1)
        ids = pc.cast(table["id"].combine_chunks().take(pa.array(rows, pa.int64())), pa.string())
        names = pa.array([f"{PREFIX}{int(p)}" for p in values[:, 0]], pa.string())
        keys.append(pc.binary_join_element_wise(ids, names, SEPARATOR))
        found.append(values[:, 1:])
    return pa.concat_arrays(keys), np.concatenate(found)


def _words(hashes: pa.Array, words: int) -> np.ndarray:
    """A list array of BIGINT words -> n x words uint64."""
    flat = hashes.flatten().to_numpy(zero_copy_only=False)
    return flat.astype(np.int64).view(np.uint64).reshape(-1, words)
