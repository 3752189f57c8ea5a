"""Hashing at the Spark edge: the kernels of streaming.hashing applied to DataFrames with
mapInPandas.

Hash columns are named as in schemas/delta/images.sql (the type with `-` as `_`) and hold the hash
as ARRAY<BIGINT> words. A bad image yields error_code/error_message and NULL hashes, never an
exception.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, IntegerType, LongType, StringType, StructField, StructType

from streaming.errors import Reason, Rejected
from streaming.hashing import (
    HashSpec,
    ImageHashes,
    hash_image,
    hash_pixels,
    hash_type,
    hex_to_words,
)
from streaming.hashing.types import EXTRA_COLUMNS
from streaming.image.codec import from_struct
from streaming.index.crops import percent

if TYPE_CHECKING:
    from streaming.config import HashingConfig

# Bytes held in memory at once by one task: images are read and hashed in chunks of this many.
CHUNK = 32


def hash_column(name: str) -> str:
    """The column (and Delta field) that holds a hash type: "whash-db4" -> "whash_db4"."""
    return hash_type(name).column


def variants_column(name: str) -> str:
    """The column of a type's 8 dihedral variant hashes (HashSpec.dihedral), in
    dihedral.TRANSFORMS order, their words end to end: "phash" -> "phash_variants"."""
    return f"{hash_column(name)}_variants"


def variant_types(spec: HashSpec) -> list[str]:
    """The types of spec whose dihedral variants hash_frame carries: none unless spec.dihedral."""
    return [t for t in spec.types if hash_type(t).variants] if spec.dihedral else []


def crops_column(name: str) -> str:
    """The column of a type's central crop hashes (HashSpec.crops), in its order, their words end
    to end: "phash" -> "phash_crops"."""
    return f"{hash_column(name)}_crops"


def stored_crops_of(crops: Column, shares: Sequence[float], words: int) -> Column:
    """crops.stored_crops in Spark: a column of crop hashes of `words` words each, end to end in
    the order of `shares` (crops_column), as the `images` table stores them, each after its share
    in percent; NULL without shares."""
    if not shares:
        return F.lit(None).cast("array<bigint>")
    return F.concat(
        *(
            part
            for k, share in enumerate(shares)
            for part in (
                F.array(F.lit(percent(share)).cast("bigint")),
                F.slice(crops, k * words + 1, words),
            )
        )
    )


def stored_crops_column(hashing: HashingConfig) -> Column:
    """stored_crops_of for a hashed frame: the primary's crops (hashing.crops), each after its
    share in percent, as the stream and the batch callers register them."""
    words = hash_type(hashing.primary).words(hashing.hash_size)
    return stored_crops_of(F.col(crops_column(hashing.primary)), hashing.crops, words)


def crop_types(spec: HashSpec) -> list[str]:
    """The types of spec whose crop hashes hash_frame carries: none unless spec.crops."""
    return list(spec.crop_types or spec.types) if spec.crops else []


def hash_fields(spec: HashSpec) -> list[StructField]:
    """The columns hash_frame adds: one ARRAY<BIGINT> per hash type (and per type's variants with
    spec.dihedral, its crops with spec.crops), every type's extra INT columns (PDQ's quality), the
    error if any."""
    return [
        *(StructField(hash_column(t), ArrayType(LongType())) for t in spec.types),
        *(StructField(variants_column(t), ArrayType(LongType())) for t in variant_types(spec)),
        *(StructField(crops_column(t), ArrayType(LongType())) for t in crop_types(spec)),
        *(StructField(column, IntegerType()) for column in EXTRA_COLUMNS),
        StructField("error_code", StringType()),
        StructField("error_message", StringType()),
    ]


def hash_frame(results: Sequence[ImageHashes], spec: HashSpec) -> pd.DataFrame:
    """Kernel results as pandas columns in the order of hash_fields."""
    columns: dict[str, list] = {hash_column(t): [] for t in spec.types}
    turned: dict[str, list] = {t: [] for t in variant_types(spec)}
    cropped: dict[str, list] = {t: [] for t in crop_types(spec)}
    extras: dict[str, list] = {column: [] for column in EXTRA_COLUMNS}
    codes, messages = [], []
    for result in results:
        for name in spec.types:
            hex_hash = result.hashes.get(name)
            columns[hash_column(name)].append(None if hex_hash is None else hex_to_words(hex_hash))
        for name, values in turned.items():
            values.append(_end_to_end(result.variants.get(name)))
        for name, values in cropped.items():
            values.append(_end_to_end(result.crops.get(name)))
        for column, values in extras.items():
            values.append(result.extras.get(column))
        codes.append(result.error.reason if result.error else None)
        messages.append(result.error.message if result.error else None)
    frame = pd.DataFrame(
        {
            **columns,
            **{variants_column(n): pd.Series(v, dtype=object) for n, v in turned.items()},
            **{crops_column(n): pd.Series(v, dtype=object) for n, v in cropped.items()},
        }
    )
    for column, values in extras.items():
        frame[column] = pd.array(values, dtype="Int32")
    frame["error_code"] = codes
    frame["error_message"] = messages
    return frame


def _end_to_end(hexes: Sequence[str] | None) -> list[int] | None:
    """The words of several hashes, one after the other."""
    return None if hexes is None else [w for h in hexes for w in hex_to_words(h)]


def hash_value(value: bytes | Mapping[str, Any] | None, spec: HashSpec) -> ImageHashes:
    """The hashes of encoded bytes, or of Spark's image struct (a mapping), or why there are none.
    Never raises."""
    if value is None:
        return ImageHashes({}, error=Rejected(Reason.EMPTY, "no image: the value is null"))
    if not isinstance(value, Mapping):
        return hash_image(bytes(value), spec)
    try:
        pixels = from_struct(value)
    except Rejected as e:
        return ImageHashes({}, error=e)
    return hash_pixels(pixels, spec)


def hash_dataframe(df: DataFrame, content_col: str, spec: HashSpec) -> DataFrame:
    """df with its column content_col, of encoded images (e.g. format("binaryFile")'s content) or
    Spark's image struct (format("image")), replaced by the hash columns."""
    kept = [f for f in df.schema.fields if f.name != content_col]
    schema = StructType([*kept, *hash_fields(spec)])

    def hash_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            for start in range(0, len(batch), CHUNK):
                chunk = batch.iloc[start : start + CHUNK]
                hashed = hash_frame([hash_value(v, spec) for v in chunk[content_col]], spec)
                yield pd.concat(
                    [chunk.drop(columns=[content_col]).reset_index(drop=True), hashed], axis=1
                )

    return df.mapInPandas(hash_batches, schema)
