"""The Spark ML stages: params like pyspark.ml.feature, a pipeline from image bytes to matches,
save/load."""

from __future__ import annotations

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import SQLTransformer
from pyspark.sql import functions as F

from streaming.ml import ImageHasher, NearDuplicateDetector, NearDuplicateModel
from streaming.samples import write_samples


def test_image_hasher_params_defaults_and_persistence(spark, tmp_path):
    hasher = ImageHasher(hashTypes=["phash", "dhash"])
    assert (hasher.getInputCol(), hasher.getOutputCol(), hasher.getHashSize()) == (
        "content",
        "hashes",
        8,
    )
    assert hasher.setHashSize(16).getHashSize() == 16
    hasher.save(str(tmp_path / "hasher"))
    loaded = ImageHasher.load(str(tmp_path / "hasher"))
    assert (loaded.getHashTypes(), loaded.getHashSize(), loaded.uid) == (
        ["phash", "dhash"],
        16,
        hasher.uid,
    )


def test_pipeline_from_image_files_to_matches_survives_save_and_load(spark, tmp_path):
    samples = write_samples(tmp_path / "photos", variants_of=3)
    files = (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .load(str(tmp_path / "photos"))
        .withColumn("id", F.regexp_replace("path", "^file:", ""))
    )
    pipeline = Pipeline(
        stages=[
            ImageHasher(hashTypes=["phash"], outputCol="h"),
            SQLTransformer(statement="SELECT *, h.phash AS phash FROM __THIS__"),
            NearDuplicateDetector(inputCol="phash", idCol="id", threshold=10, expectedSize=100),
        ]
    )
    model = pipeline.fit(files)
    result = {r["id"]: [m["id"] for m in r["matches"]] for r in model.transform(files).collect()}
    for variant, original in samples.variants.items():
        if "hubble" not in variant.name:  # its caption moves the hash past 10 bits
            assert str(original) in result[str(variant)]
    assert all(image_id not in matches for image_id, matches in result.items())

    model.write().overwrite().save(str(tmp_path / "model"))
    again = PipelineModel.load(str(tmp_path / "model"))
    reloaded = {r["id"]: [m["id"] for m in r["matches"]] for r in again.transform(files).collect()}
    assert reloaded == result
    assert isinstance(again.stages[-1], NearDuplicateModel)


def test_model_distances_are_exact(spark):
    words = [0, 1, 3, 2**40 - 1]
    frame = spark.createDataFrame(
        [(f"w{i}", [w]) for i, w in enumerate(words)] + [("bad", None)],
        "id string, phash array<bigint>",
    )
    model = NearDuplicateDetector(threshold=3, expectedSize=10).fit(frame)
    got = {
        r["id"]: [(m["id"], m["distance"]) for m in r["matches"]]
        for r in model.transform(frame).collect()
    }
    assert got["w0"] == [("w1", 1), ("w2", 2)]
    assert got["w3"] == []
    assert got["bad"] == []
