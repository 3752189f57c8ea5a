"""Spark ML stages: ImageHasher (a Transformer) and NearDuplicateDetector (an Estimator and its
Model).

They behave like pyspark.ml.feature's stages: typed Params with defaults, setX/getX, and save/load
through MLWriter/MLReader, so they fit in a Pipeline and persist with it.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Estimator, Model, Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.ml.util import (
    DefaultParamsReadable,
    DefaultParamsReader,
    DefaultParamsWritable,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from streaming.config import IndexConfig
from streaming.hashing import HashSpec
from streaming.hashing.decode import GREY_STEPS
from streaming.hashing.types import HASH_TYPES
from streaming.imageframe import hash_dataframe, hash_fields, stored_crops_of
from streaming.index.crops import CROPS_COLUMN
from streaming.index.lookup import Lookup, open_lookup
from streaming.index.scratch import pairs_of, scratch_index
from streaming.index.table import HashIndex

# The largest reference that lookup "auto" keeps on the driver (as index.memory_max_images).
MEMORY_MAX_IMAGES = 10_000_000


class ImageHasher(
    Transformer, HasInputCol, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable
):
    """Adds a struct column of hashes (one ARRAY<BIGINT> per type, plus error_code/error_message)
    computed from a column of encoded images (e.g. `content` of spark.read.format("binaryFile"))
    or of Spark's image struct (spark.read.format("image"), or ImageTransformer's output)."""

    hashTypes = Param(
        Params._dummy(),
        "hashTypes",
        f"hash types, of {', '.join(HASH_TYPES)}",
        typeConverter=TypeConverters.toListString,
    )
    hashSize = Param(
        Params._dummy(), "hashSize", "hash size (8 or 16)", typeConverter=TypeConverters.toInt
    )
    grey = Param(
        Params._dummy(),
        "grey",
        f"how the grey hashes see colour, of {', '.join(GREY_STEPS)}",
        typeConverter=lambda value: one_of(value, GREY_STEPS),
    )
    dihedral = Param(
        Params._dummy(),
        "dihedral",
        "add each type's 8 dihedral variant hashes (<type>_variants), as hashing.dihedral",
        typeConverter=TypeConverters.toBoolean,
    )
    crops = Param(
        Params._dummy(),
        "crops",
        "add each type's central crop hashes (<type>_crops), one per share cut off, as "
        "hashing.crops",
        typeConverter=TypeConverters.toListFloat,
    )
    unletterbox = Param(
        Params._dummy(),
        "unletterbox",
        "take uniform borders off before hashing, as hashing.unletterbox",
        typeConverter=TypeConverters.toBoolean,
    )
    _input_kwargs: dict[str, Any]  # set by @keyword_only

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str = "content",
        outputCol: str = "hashes",
        hashTypes: list[str] | None = None,
        hashSize: int = 8,
        grey: str = "luma",
        dihedral: bool = False,
        crops: list[float] | None = None,
        unletterbox: bool = False,
    ) -> None:
        super().__init__()
        self._setDefault(
            inputCol="content",
            outputCol="hashes",
            hashTypes=["phash"],
            hashSize=8,
            grey="luma",
            dihedral=False,
            crops=[],
            unletterbox=False,
        )
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(
        self,
        *,
        inputCol: str = "content",
        outputCol: str = "hashes",
        hashTypes: list[str] | None = None,
        hashSize: int = 8,
        grey: str = "luma",
        dihedral: bool = False,
        crops: list[float] | None = None,
        unletterbox: bool = False,
    ) -> ImageHasher:
        return self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    def setInputCol(self, value: str) -> ImageHasher:
        return self._set(inputCol=value)

    def setOutputCol(self, value: str) -> ImageHasher:
        return self._set(outputCol=value)

    def setHashTypes(self, value: list[str]) -> ImageHasher:
        return self._set(hashTypes=value)

    def getHashTypes(self) -> list[str]:
        return self.getOrDefault(self.hashTypes)

    def setHashSize(self, value: int) -> ImageHasher:
        return self._set(hashSize=value)

    def getHashSize(self) -> int:
        return self.getOrDefault(self.hashSize)

    def setGrey(self, value: str) -> ImageHasher:
        return self._set(grey=value)

    def getGrey(self) -> str:
        return self.getOrDefault(self.grey)

    def setDihedral(self, value: bool) -> ImageHasher:
        return self._set(dihedral=value)

    def getDihedral(self) -> bool:
        return self.getOrDefault(self.dihedral)

    def setCrops(self, value: list[float]) -> ImageHasher:
        return self._set(crops=value)

    def getCrops(self) -> list[float]:
        return self.getOrDefault(self.crops)

    def setUnletterbox(self, value: bool) -> ImageHasher:
        return self._set(unletterbox=value)

    def getUnletterbox(self) -> bool:
        return self.getOrDefault(self.unletterbox)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        spec = HashSpec(
            types=tuple(self.getHashTypes()),
            hash_size=self.getHashSize(),
            grey=self.getGrey(),
            dihedral=self.getDihedral(),
            crops=tuple(self.getCrops()),
            unletterbox=self.getUnletterbox(),
        )
        content = "__neardup_content"
        hashed = hash_dataframe(
            dataset.withColumn(content, F.col(self.getInputCol())), content, spec
        )
        fields = [f.name for f in hash_fields(spec)]
        return hashed.withColumn(self.getOutputCol(), F.struct(*fields)).drop(*fields)


def one_of(value: Any, known: tuple[str, ...]) -> str:
    """A Param's type converter for a string of a few known values."""
    if value not in known:
        raise TypeError(f"expected one of {', '.join(known)}, got {value!r}")
    return str(value)


# The reference is kept as a Delta index whose primary hash holds hashes of this width.
REFERENCE_TYPES = {64: ("phash", 8), 256: ("pdq", 16)}


class _DetectorParams(HasInputCol, HasOutputCol):
    idCol = Param(
        Params._dummy(), "idCol", "column of the row ids", typeConverter=TypeConverters.toString
    )
    threshold = Param(
        Params._dummy(), "threshold", "maximum Hamming distance", typeConverter=TypeConverters.toInt
    )
    hashBits = Param(
        Params._dummy(),
        "hashBits",
        "width of the hashes in bits (HashType.width: 64 or 256 for a bandable type)",
        typeConverter=TypeConverters.toInt,
    )
    expectedSize = Param(
        Params._dummy(),
        "expectedSize",
        "expected number of reference hashes (sizes the bands)",
        typeConverter=TypeConverters.toInt,
    )
    lookup = Param(
        Params._dummy(),
        "lookup",
        "how transform looks the reference up, as index.lookup: auto, memory, sharded or join",
        typeConverter=TypeConverters.toString,
    )
    dihedral = Param(
        Params._dummy(),
        "dihedral",
        "each row also probes with its 8 dihedral variants, read from the column <inputCol>"
        "_variants (ImageHasher's dihedral), as hashing.dihedral",
        typeConverter=TypeConverters.toBoolean,
    )
    crops = Param(
        Params._dummy(),
        "crops",
        "the reference also holds, and each row also probes with, its central crops, read from "
        "the column <inputCol>_crops (ImageHasher's crops, the same shares), as hashing.crops; "
        "not with the join lookup",
        typeConverter=TypeConverters.toListFloat,
    )

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(
            inputCol="phash",
            outputCol="matches",
            idCol="id",
            threshold=10,
            hashBits=64,
            expectedSize=1_000_000,
            lookup="auto",
            dihedral=False,
            crops=[],
        )

    def getIdCol(self) -> str:
        return self.getOrDefault(self.idCol)

    def getThreshold(self) -> int:
        return self.getOrDefault(self.threshold)

    def getHashBits(self) -> int:
        return self.getOrDefault(self.hashBits)

    def getExpectedSize(self) -> int:
        return self.getOrDefault(self.expectedSize)

    def getLookup(self) -> str:
        return self.getOrDefault(self.lookup)

    def getDihedral(self) -> bool:
        return self.getOrDefault(self.dihedral)

    def getCrops(self) -> list[float]:
        return self.getOrDefault(self.crops)

    def _hash_type(self) -> tuple[str, int]:
        """The index column and hash size that hold hashes of hashBits."""
        if self.getHashBits() not in REFERENCE_TYPES:
            raise ValueError(f"hashBits must be one of {sorted(REFERENCE_TYPES)}")
        return REFERENCE_TYPES[self.getHashBits()]


class NearDuplicateDetector(
    Estimator, _DetectorParams, DefaultParamsReadable, DefaultParamsWritable
):
    """fit() keeps the reference hashes (id, hash; with `crops` the crops' too) as a Delta index (in
    a temporary folder; save() copies it into the model); the model's transform() looks each row
    up with the `lookup` param, probing as the stream does (with `dihedral` its 8 variants, with
    `crops` its crops), and adds the reference rows within threshold: ARRAY<STRUCT<id, distance,
    transform>>, nearest first, never the row itself (`transform` as an alert's: the row is
    transform(the match))."""

    _input_kwargs: dict[str, Any]  # set by @keyword_only

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str = "phash",
        outputCol: str = "matches",
        idCol: str = "id",
        threshold: int = 10,
        hashBits: int = 64,
        expectedSize: int = 1_000_000,
        lookup: str = "auto",
        dihedral: bool = False,
        crops: list[float] | None = None,
    ) -> None:
        super().__init__()
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    def setInputCol(self, value: str) -> NearDuplicateDetector:
        return self._set(inputCol=value)

    def setOutputCol(self, value: str) -> NearDuplicateDetector:
        return self._set(outputCol=value)

    def setIdCol(self, value: str) -> NearDuplicateDetector:
        return self._set(idCol=value)

    def setThreshold(self, value: int) -> NearDuplicateDetector:
        return self._set(threshold=value)

    def setHashBits(self, value: int) -> NearDuplicateDetector:
        return self._set(hashBits=value)

    def setExpectedSize(self, value: int) -> NearDuplicateDetector:
        return self._set(expectedSize=value)

    def setLookup(self, value: str) -> NearDuplicateDetector:
        return self._set(lookup=value)

    def setDihedral(self, value: bool) -> NearDuplicateDetector:
        return self._set(dihedral=value)

    def setCrops(self, value: list[float]) -> NearDuplicateDetector:
        return self._set(crops=value)

    def _fit(self, dataset: DataFrame) -> NearDuplicateModel:
        shares, words = self.getCrops(), self.getHashBits() // 64
        # named after inputCol, which may be a field ("h.phash"), not a type (crops_column)
        cropped = F.col(f"{self.getInputCol()}_crops")  # read only with shares
        reference = dataset.select(
            F.col(self.getIdCol()).cast("string").alias("id"),
            F.col(self.getInputCol()).alias("hash"),
            stored_crops_of(cropped, shares, words).alias(CROPS_COLUMN),
        ).where(F.col("hash").isNotNull())
        hash_type, hash_size = self._hash_type()
        # Kept as a Delta index, as the stream's: the same lookups read it.
        folder = _Reference()
        scratch_index(
            dataset.sparkSession,
            folder.path,
            reference,
            hash_type,
            hash_size,
            self.getThreshold(),
            crops=bool(shares),
        )
        return self._copyValues(NearDuplicateModel(folder.path, owner=folder))


class _Reference:
    """The folder of the index fit() builds, removed when the last model holding it is gone
    (a model's copies share it) or at exit."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="neardup-reference-")
        weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)


class NearDuplicateModel(Model, _DetectorParams, MLWritable, MLReadable):
    """transform() looks every row's hash up in the reference index with the lookup named by the
    `lookup` param (one opened per threshold and kind, and kept)."""

    def __init__(self, reference: str | None = None, owner: _Reference | None = None) -> None:
        super().__init__()
        self._reference = reference
        self._owner = owner  # keeps fit()'s folder while the model lives
        self._lookups: dict[tuple[int, str], Lookup] = {}

    @property
    def reference(self) -> str:
        """The folder of the Delta index that fit() kept."""
        if self._reference is None:
            raise ValueError("this model has no reference hashes: build it with fit() or load()")
        return self._reference

    def setOutputCol(self, value: str) -> NearDuplicateModel:
        return self._set(outputCol=value)

    def setThreshold(self, value: int) -> NearDuplicateModel:
        return self._set(threshold=value)

    def setLookup(self, value: str) -> NearDuplicateModel:
        return self._set(lookup=value)

    def setDihedral(self, value: bool) -> NearDuplicateModel:
        return self._set(dihedral=value)

    def _open(self, spark: SparkSession) -> Lookup:
        key = (self.getThreshold(), self.getLookup())
        if key not in self._lookups:
            hash_type, hash_size = self._hash_type()
            index = HashIndex(
                spark,
                self.reference,
                hash_type,
                hash_size,
                self.getThreshold(),
                self.getExpectedSize(),
                crops=bool(self.getCrops()),  # the reference holds the crops fit() was given
            )
            settings = IndexConfig(
                path=self.reference,
                lookup=self.getLookup(),
                memory_max_images=MEMORY_MAX_IMAGES,
                shards=0,
            )
            self._lookups[key] = open_lookup(index, settings)
        return self._lookups[key]

    def _transform(self, dataset: DataFrame) -> DataFrame:
        spark = dataset.sparkSession
        column, shares = self.getInputCol(), self.getCrops()
        queries = dataset.select(
            F.col(self.getIdCol()).cast("string").alias("id"),
            F.col(column).alias("hash"),
            *([F.col(f"{column}_variants").alias("variants")] if self.getDihedral() else []),
            *([F.col(f"{column}_crops").alias("crop_hashes")] if shares else []),
        )
        lookup = self._open(spark)
        found = pairs_of(lookup, queries, self.getThreshold(), self.getDihedral(), shares)
        pairs = spark.createDataFrame(
            [(query, match, *near) for (query, match), near in found.items()],
            "query_id STRING, match_id STRING, distance INT, transform STRING",
        )
        nearest = F.struct("distance", F.col("match_id").alias("id"), "transform")
        matches = (
            pairs.groupBy("query_id")
            .agg(F.sort_array(F.collect_list(nearest)).alias("_m"))
            .select(
                "query_id",
                F.transform(
                    "_m",
                    lambda m: F.struct(
                        *(m[field].alias(field) for field in ("id", "distance", "transform"))
                    ),
                ).alias(self.getOutputCol()),
            )
        )
        joined = dataset.join(
            matches, F.col(self.getIdCol()).cast("string") == F.col("query_id"), "left"
        )
        empty = F.array().cast("array<struct<id:string,distance:int,transform:string>>")
        return joined.withColumn(self.getOutputCol(), F.coalesce(self.getOutputCol(), empty)).drop(
            "query_id"
        )

    def write(self) -> MLWriter:
        return _ModelWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        return _ModelReader()


class _ModelWriter(MLWriter):
    def __init__(self, model: NearDuplicateModel) -> None:
        super().__init__()
        self.model = model

    def saveImpl(self, path: str) -> None:
        DefaultParamsWriter.saveMetadata(self.model, path, self.sparkSession.sparkContext)
        # The reference index's `images` table, copied: a loaded model reads it where it is saved.
        images = self.sparkSession.read.format("delta").load(f"{self.model.reference}/images")
        images.write.format("delta").save(f"{path}/reference/images")


class _ModelReader(MLReader):
    def load(self, path: str) -> NearDuplicateModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession.sparkContext)
        model = NearDuplicateModel(f"{path}/reference")
        DefaultParamsReader.getAndSetParams(model, metadata)
        model._resetUid(metadata["uid"])
        return model
