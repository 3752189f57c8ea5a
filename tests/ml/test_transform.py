"""ImageTransformer on Spark: the image struct round trip as Spark's image source gives it, the
stages in one pass, bad images, and ImageTransformer -> ImageHasher -> NearDuplicateDetector as one
Pipeline saved and loaded."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql import functions as F

from streaming.hashing import HashSpec, hash_image, hex_to_words
from streaming.image.codec import from_struct
from streaming.ml import ImageHasher, ImageTransformer, NearDuplicateDetector
from streaming.samples import photos, write_samples


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small real photos as PNG: colour, grey and with alpha, and one corrupt file."""
    folder = tmp_path_factory.mktemp("images")
    coffee = cv2.resize(photos()["coffee"], (64, 43), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(folder / "colour.png"), coffee)
    cv2.imwrite(str(folder / "grey.png"), cv2.cvtColor(coffee, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "alpha.png"), cv2.cvtColor(coffee, cv2.COLOR_BGR2BGRA))
    (folder / "corrupt.png").write_bytes(cv2.imencode(".png", coffee)[1].tobytes()[:200])
    return folder


def by_name(rows, origin=lambda row: row["path"]) -> dict:
    return {Path(origin(r)).name: r for r in rows}


def test_image_struct_round_trip_keeps_sparks_bgr_pixels(spark, folder):
    images = spark.read.format("image").load(str(folder))
    transformed = ImageTransformer(outputCol="out").transform(images).select("image", "out")
    rows = by_name(transformed.collect(), origin=lambda row: row["image"]["origin"])
    colour = rows["colour.png"]
    assert colour["out"] == colour["image"]  # no stage: the struct comes back as it went in
    expected = cv2.imread(str(folder / "colour.png"))  # BGR
    assert colour["out"]["data"] == expected.tobytes()
    assert (colour["out"]["nChannels"], colour["out"]["mode"]) == (3, 16)
    assert np.array_equal(from_struct(rows["grey.png"]["out"].asDict()), expected_grey(folder))
    assert rows["alpha.png"]["out"]["nChannels"] == 4


def expected_grey(folder: Path) -> np.ndarray:
    return cv2.imread(str(folder / "grey.png"), cv2.IMREAD_GRAYSCALE)


def test_stages_run_in_one_pass_as_opencv_would(spark, folder):
    transformer = (
        ImageTransformer(inputCol="content", outputCol="small")
        .resize(32, keepAspectRatio=True)
        .centerCrop(32, 32)
        .flip(1)
        .colorFormat(cv2.COLOR_BGR2GRAY)
    )
    files = spark.read.format("binaryFile").load(str(folder / "colour.png"))
    row = transformer.transform(files).select("small", "transform_error").first()
    image = cv2.imread(str(folder / "colour.png"))
    resized = cv2.resize(image, (48, 32))  # the shorter side 43 -> 32: 64 * 32 / 43 = 47.6
    expected = cv2.cvtColor(cv2.flip(resized[:, 8:40], 1), cv2.COLOR_BGR2GRAY)
    assert row["transform_error"] is None
    assert (row["small"]["origin"], row["small"]["mode"]) == (None, 0)
    assert np.array_equal(from_struct(row["small"].asDict()), expected)

    png = transformer.setOutputFormat("png").transform(files).first()["small"]
    assert np.array_equal(
        cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED), expected
    )
    plan = transformer.transform(files).select("small", "transform_error")._jdf.queryExecution()
    assert str(plan.executedPlan()).count("ArrowEvalPython") == 1  # the UDF runs once per row


def test_normalize_gives_synapsemls_tensor(spark, folder):
    files = spark.read.format("binaryFile").load(str(folder / "colour.png"))
    transformer = (
        ImageTransformer(inputCol="content").resize(2, 3).normalize([0, 0, 0], [1, 1, 1], 2)
    )
    tensor = np.array(transformer.transform(files).first()["transformed"])
    expected = cv2.resize(cv2.imread(str(folder / "colour.png")), (3, 2))[..., ::-1].astype(float)
    assert tensor.shape == (3, 2, 3)
    assert np.array_equal(tensor, 2 * expected.transpose(2, 0, 1))


def test_bad_images_get_a_null_output_and_a_reason_and_the_task_goes_on(spark, folder):
    empty = spark.createDataFrame(
        [("empty", None, 0, None)],
        "path string, modificationTime timestamp, length long, content binary",
    )
    files = spark.read.format("binaryFile").load(str(folder)).union(empty)
    crop = ImageTransformer(inputCol="content").crop(0, 0, height=40, width=64)
    rows = by_name(crop.transform(files).collect())
    assert all(rows[n]["transformed"] is not None for n in ("colour.png", "grey.png", "alpha.png"))
    assert all(rows[n]["transform_error"] is None for n in ("colour.png", "grey.png", "alpha.png"))
    assert rows["corrupt.png"]["transformed"] is None
    assert rows["corrupt.png"]["transform_error"]["code"] == "undecodable"
    assert rows["empty"]["transform_error"]["code"] == "empty"

    too_tall = ImageTransformer(inputCol="content").crop(0, 0, height=50, width=10)
    error = too_tall.transform(files.where(F.col("path").endswith("colour.png"))).first()
    assert error["transformed"] is None
    assert error["transform_error"]["code"] == "transform_failed"
    assert "reaches outside the 64x43 image" in error["transform_error"]["message"]

    invalid = spark.read.format("image").load(str(folder / "corrupt.png"))
    struct = ImageTransformer().transform(invalid).first()
    assert struct["transform_error"]["code"] == "undecodable"


def test_transformer_params_and_persistence(spark, tmp_path):
    transformer = (
        ImageTransformer(outputCol="t").resize(10, 20).decolorize().setOutputFormat("jpeg")
    )
    assert transformer.getStages() == [
        {"action": "resize", "height": 10, "width": 20},
        {"action": "decolorize"},
    ]
    with pytest.raises(ValueError, match="width must be at least 1"):
        transformer.resize(10, 0)
    transformer.save(str(tmp_path / "t"))
    loaded = ImageTransformer.load(str(tmp_path / "t"))
    assert (loaded.getStages(), loaded.getOutputFormat(), loaded.getOutputCol(), loaded.uid) == (
        transformer.getStages(),
        "jpeg",
        "t",
        transformer.uid,
    )


def test_image_hasher_hashes_the_image_struct_as_the_files_bytes(spark, folder):
    spec = HashSpec(types=("phash", "dhash", "colorhash", "pdq"))
    images = spark.read.format("image").load(str(folder / "colour.png"))
    hasher = ImageHasher(inputCol="image", hashTypes=list(spec.types))
    row = hasher.transform(images).first()["hashes"]
    from_file = hash_image((folder / "colour.png").read_bytes(), spec).hashes
    assert {t: row[t.replace("-", "_")] for t in spec.types} == {
        t: hex_to_words(h) for t, h in from_file.items()
    }
    decolorized = hasher.setGrey("decolor").transform(images).first()["hashes"]
    assert decolorized["phash"] != row["phash"]
    assert decolorized["colorhash"] == row["colorhash"]  # a colour hash: no grey step


def test_transformer_hasher_detector_pipeline_survives_save_and_load(spark, tmp_path):
    samples = write_samples(tmp_path / "photos", variants_of=3)
    images = (
        spark.read.format("image")
        .option("recursiveFileLookup", "true")
        .load(str(tmp_path / "photos"))
        .withColumn("id", F.regexp_replace("image.origin", "^file:(//)?", ""))
    )
    pipeline = Pipeline(
        stages=[
            ImageTransformer(outputCol="small").resize(256, keepAspectRatio=True),
            ImageHasher(inputCol="small", hashTypes=["phash"], outputCol="h"),
            NearDuplicateDetector(inputCol="h.phash", idCol="id", threshold=10, expectedSize=100),
        ]
    )
    model = pipeline.fit(images)
    result = {r["id"]: [m["id"] for m in r["matches"]] for r in model.transform(images).collect()}
    assert all(str(original) in result[str(v)] for v, original in samples.variants.items())

    model.write().overwrite().save(str(tmp_path / "model"))
    again = PipelineModel.load(str(tmp_path / "model"))
    reloaded = {r["id"]: [m["id"] for m in r["matches"]] for r in again.transform(images).collect()}
    assert reloaded == result
    assert again.stages[0].getStages() == [{"action": "resizeShorter", "size": 256}]
