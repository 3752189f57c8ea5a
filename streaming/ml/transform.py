"""ImageTransformer: SynapseML's chainable image stage, on OpenCV in Python, for pyspark.ml.

    ImageTransformer(outputCol="small").resize(256, keepAspectRatio=True).centerCrop(224, 224)

The input column holds Spark's image struct (spark.read.format("image")) or encoded bytes
(binaryFile's `content`). One Arrow UDF reads each image once, runs every stage in order
(streaming.image.ops) and writes the image struct, PNG or JPEG bytes, or normalize()'s tensor. An
image that cannot be read or transformed gets a null output and its reason in errorCol; the task
goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, overload

import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_type
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    DataType,
    FloatType,
    IntegerType,
    StringType,
    StructField,
    StructType,
)

from streaming.image.codec import IMAGE_FIELDS
from streaming.image.ops import make_stage
from streaming.image.recipe import OUTPUTS, Recipe
from streaming.imageframe import CHUNK
from streaming.ml.stages import one_of

# Spark's ImageSchema.columnSchema, nullable as the image source reads it.
IMAGE_STRUCT = StructType(
    [
        StructField(name, kind)
        for name, kind in zip(
            IMAGE_FIELDS,
            (
                StringType(),
                IntegerType(),
                IntegerType(),
                IntegerType(),
                IntegerType(),
                BinaryType(),
            ),
            strict=True,
        )
    ]
)
ERROR_STRUCT = StructType([StructField("code", StringType()), StructField("message", StringType())])
_OUTPUT_TYPES: dict[str, DataType] = {
    "image": IMAGE_STRUCT,
    "png": BinaryType(),
    "jpeg": BinaryType(),
    "tensor": ArrayType(ArrayType(ArrayType(FloatType()))),
}


def _to_stages(value: Any) -> list[dict[str, Any]]:
    """Params' type converter: every stage checked when set, including when loaded from JSON."""
    if not isinstance(value, list | tuple) or not all(isinstance(s, dict) for s in value):
        raise TypeError(f"stages must be a list of dicts, got {value!r}")
    return [make_stage(**stage) for stage in value]


class ImageTransformer(
    Transformer, HasInputCol, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable
):
    """Resizes, crops, converts, decolorizes, flips, blurs, thresholds and normalizes images,
    each image in one pass. The stage methods return the transformer, so they chain."""

    stages = Param(
        Params._dummy(),
        "stages",
        "the image operations in order, each a dict {'action': name, **arguments}",
        typeConverter=_to_stages,
    )
    outputFormat = Param(
        Params._dummy(),
        "outputFormat",
        "image (Spark's image struct), png or jpeg (encoded bytes), or tensor (float channels x "
        "height x width, RGB)",
        typeConverter=lambda value: one_of(value, OUTPUTS),
    )
    errorCol = Param(
        Params._dummy(),
        "errorCol",
        "column of STRUCT<code, message>: why the output is null (null when it is not)",
        typeConverter=TypeConverters.toString,
    )
    normalizeMean = Param(
        Params._dummy(),
        "normalizeMean",
        "the tensor's mean by channel (RGB order), subtracted after scaling",
        typeConverter=TypeConverters.toListFloat,
    )
    normalizeStd = Param(
        Params._dummy(),
        "normalizeStd",
        "the tensor's standard deviation by channel (RGB order), divided by last",
        typeConverter=TypeConverters.toListFloat,
    )
    colorScaleFactor = Param(
        Params._dummy(),
        "colorScaleFactor",
        "factor the tensor's pixel values are multiplied by first",
        typeConverter=TypeConverters.toFloat,
    )
    _input_kwargs: dict[str, Any]  # set by @keyword_only

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str = "image",
        outputCol: str = "transformed",
        errorCol: str = "transform_error",
        stages: list[dict[str, Any]] | None = None,
        outputFormat: str = "image",
    ) -> None:
        super().__init__()
        self._setDefault(
            inputCol="image",
            outputCol="transformed",
            errorCol="transform_error",
            stages=[],
            outputFormat="image",
            colorScaleFactor=1.0,
        )
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    def setInputCol(self, value: str) -> ImageTransformer:
        return self._set(inputCol=value)

    def setOutputCol(self, value: str) -> ImageTransformer:
        return self._set(outputCol=value)

    def setErrorCol(self, value: str) -> ImageTransformer:
        return self._set(errorCol=value)

    def getErrorCol(self) -> str:
        return self.getOrDefault(self.errorCol)

    def setOutputFormat(self, value: str) -> ImageTransformer:
        return self._set(outputFormat=value)

    def getOutputFormat(self) -> str:
        return self.getOrDefault(self.outputFormat)

    def setStages(self, value: list[dict[str, Any]]) -> ImageTransformer:
        return self._set(stages=value)

    def getStages(self) -> list[dict[str, Any]]:
        return self.getOrDefault(self.stages)

    def _add(self, action: str, **arguments: Any) -> ImageTransformer:
        return self._set(stages=[*self.getStages(), make_stage(action, **arguments)])

    @overload
    def resize(self, height: int, width: int) -> ImageTransformer: ...

    @overload
    def resize(
        self, size: int | tuple[int, int], keepAspectRatio: bool = True
    ) -> ImageTransformer: ...

    def resize(self, *args: Any, **kwargs: Any) -> ImageTransformer:
        """resize(height, width): to that size. resize(size, keepAspectRatio=True): the shorter
        side to `size` and the other in proportion, or to size x size; a (width, height) tuple as
        `size` is that size, as in SynapseML's Python API. Bilinear, as OpenCV's default."""
        boxed = {"height", "width"} & kwargs.keys() or (
            len(args) == 2 and not isinstance(args[1], bool)
        )
        action, arguments = _box(*args, **kwargs) if boxed else _shorter(*args, **kwargs)
        return self._add(action, **arguments)

    def crop(self, x: int, y: int, height: int, width: int) -> ImageTransformer:
        """The height x width rectangle whose top left corner is (x, y); an image it does not fit
        in gets an error."""
        return self._add("crop", x=x, y=y, height=height, width=width)

    def centerCrop(self, height: int, width: int) -> ImageTransformer:
        """The middle height x width rectangle, or less where the image is smaller."""
        return self._add("centerCrop", height=height, width=width)

    def colorFormat(self, code: int) -> ImageTransformer:
        """OpenCV's colour conversion `code` (cv2.COLOR_*), e.g. cv2.COLOR_BGR2GRAY."""
        return self._add("colorFormat", code=code)

    def decolorize(self) -> ImageTransformer:
        """Grey by contrast-preserving decolorization (OpenCV's decolor): colours of equal
        luminance stay apart. Slow: about a second for 512 x 512 pixels (docs/robustness.md)."""
        return self._add("decolorize")

    def flip(self, flipCode: int = 1) -> ImageTransformer:
        """0: upside down; positive: left to right; negative: both."""
        return self._add("flip", flipCode=flipCode)

    def blur(self, height: int, width: int) -> ImageTransformer:
        """The mean of each height x width box."""
        return self._add("blur", height=height, width=width)

    def gaussianKernel(self, apertureSize: int, sigma: float) -> ImageTransformer:
        """Filters with OpenCV's Gaussian kernel of that size, as SynapseML: a column kernel, so
        the blur runs along the columns only."""
        return self._add("gaussianKernel", apertureSize=apertureSize, sigma=float(sigma))

    def threshold(self, threshold: float, maxVal: float, thresholdType: int) -> ImageTransformer:
        """OpenCV's threshold with `thresholdType` (cv2.THRESH_*)."""
        return self._add(
            "threshold",
            threshold=float(threshold),
            maxVal=float(maxVal),
            thresholdType=thresholdType,
        )

    def normalize(
        self, mean: list[float], std: list[float], scale: float = 1.0
    ) -> ImageTransformer:
        """Output a tensor instead of an image, as SynapseML: channels x height x width floats in
        RGB order (alpha dropped), each pixel value * scale - mean, divided by std, by channel."""
        return self._set(
            normalizeMean=mean, normalizeStd=std, colorScaleFactor=scale, outputFormat="tensor"
        )

    def recipe(self) -> Recipe:
        """What the transformer does to each image, without Spark."""
        mean, std = (
            self.getOrDefault(p) if self.isDefined(p) else None
            for p in (self.normalizeMean, self.normalizeStd)
        )
        return Recipe(
            stages=tuple(self.getStages()),
            output=self.getOutputFormat(),
            mean=mean,
            std=std,
            scale=self.getOrDefault(self.colorScaleFactor),
        )

    def _transform(self, dataset: DataFrame) -> DataFrame:
        source = dataset.schema[self.getInputCol()].dataType
        if source != BinaryType() and not is_image_struct(source):
            raise ValueError(
                f"{self.getInputCol()} is {source.simpleString()}: ImageTransformer reads encoded "
                "images (binary) or Spark's image struct"
            )
        recipe = self.recipe()
        returned = StructType(
            [
                StructField("output", _OUTPUT_TYPES[recipe.output]),
                StructField("error", ERROR_STRUCT),
            ]
        )

        arrow_returned = to_arrow_type(returned)

        # An Arrow UDF, not a pandas one: the column comes in and the struct goes out as Arrow,
        # with no pandas conversion of the bytes or of the dicts either way (docs/transform.md).
        @F.arrow_udf(returned)  # type: ignore[call-overload]
        def transform_images(batches: Iterator[pa.Array]) -> Iterator[pa.Array]:
            for batch in batches:
                # In chunks: the outputs of a whole Arrow batch of images need not fit in memory.
                for start in range(0, len(batch), CHUNK):
                    outputs, errors = recipe.apply_all(batch.slice(start, CHUNK).to_pylist())
                    rows = [{"output": o, "error": e} for o, e in zip(outputs, errors, strict=True)]
                    yield pa.array(rows, type=arrow_returned)

        result = "__neardup_transformed"
        return (
            dataset.withColumn(result, transform_images(F.col(self.getInputCol())))
            .withColumn(self.getOutputCol(), F.col(f"{result}.output"))
            .withColumn(self.getErrorCol(), F.col(f"{result}.error"))
            .drop(result)
        )


def is_image_struct(column: DataType) -> bool:
    """Spark's image struct, whatever the nullability of its fields."""
    return isinstance(column, StructType) and [(f.name, f.dataType) for f in column.fields] == [
        (f.name, f.dataType) for f in IMAGE_STRUCT.fields
    ]


def _box(height: int, width: int) -> tuple[str, dict[str, int]]:
    return "resize", {"height": height, "width": width}


def _shorter(
    size: int | tuple[int, int], keepAspectRatio: bool = True
) -> tuple[str, dict[str, int]]:
    if isinstance(size, tuple):
        width, height = size
        return _box(height, width)
    return ("resizeShorter", {"size": size}) if keepAspectRatio else _box(size, size)
