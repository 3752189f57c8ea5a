"""The Spark ML stages: params like pyspark.ml.feature, a pipeline from image bytes to matches,
save/load."""

from __future__ import annotations

import gc
from pathlib import Path

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
    assert (hasher.getDihedral(), hasher.getCrops(), hasher.getUnletterbox()) == (False, [], False)
    assert hasher.setHashSize(16).getHashSize() == 16
    hasher.setDihedral(True).setCrops([0.1, 0.2]).setUnletterbox(True)
    hasher.save(str(tmp_path / "hasher"))
    loaded = ImageHasher.load(str(tmp_path / "hasher"))
    assert (loaded.getHashTypes(), loaded.getHashSize(), loaded.uid) == (
        ["phash", "dhash"],
        16,
        hasher.uid,
    )
    assert (loaded.getDihedral(), loaded.getCrops(), loaded.getUnletterbox()) == (
        True,
        [0.1, 0.2],
        True,
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


def test_the_folder_fit_builds_lives_as_long_as_a_model_or_copy_holding_it(spark):
    frame = spark.createDataFrame([("a", [0]), ("b", [1])], "id string, phash array<bigint>")
    model = NearDuplicateDetector(threshold=3, expectedSize=10).fit(frame)
    folder, copy = Path(model.reference), model.copy()
    del model
    gc.collect()
    assert folder.is_dir() and [r["matches"][0]["id"] for r in copy.transform(frame).collect()]
    del copy
    gc.collect()
    assert not folder.exists()


def test_the_detector_finds_a_mirror_and_a_crop_with_its_dihedral_and_crops_params(
    spark, mirror_and_crop, tmp_path
):
    """dihedral and crops, as hashing.dihedral and hashing.crops: ImageHasher adds the variants
    and crops, the detector keeps the reference's crops and probes with both; a loaded model
    keeps them. Without them the mirror and the crop are too far."""
    files = spark.read.format("binaryFile").load(str(mirror_and_crop))
    hasher = ImageHasher(hashTypes=["phash"], outputCol="h", dihedral=True, crops=[0.2])
    hashed = hasher.transform(files).select(
        F.regexp_replace("path", "^file:", "").alias("id"),
        "h.phash",
        "h.phash_variants",
        "h.phash_crops",
    )
    detector = NearDuplicateDetector(threshold=10, expectedSize=10, dihedral=True, crops=[0.2])
    assert (detector.getDihedral(), detector.getCrops()) == (True, [0.2])

    def found(model: NearDuplicateModel) -> dict[str, list[tuple[str, str]]]:
        return {
            Path(r["id"]).name: [(Path(m["id"]).name, m["transform"]) for m in r["matches"]]
            for r in model.transform(hashed).collect()
        }

    model = detector.fit(hashed)
    assert found(model) == {
        "astronaut.png": [("astronaut_mirror.png", "flip_h")],
        "astronaut_mirror.png": [("astronaut.png", "flip_h")],
        "coffee.png": [("coffee_crop.png", "uncrop20")],  # its crop20 is the match
        "coffee_crop.png": [("coffee.png", "crop20")],  # it is the match's crop20
    }
    model.write().save(str(tmp_path / "model"))
    loaded = NearDuplicateModel.load(str(tmp_path / "model"))
    assert (loaded.getDihedral(), loaded.getCrops()) == (True, [0.2])
    assert found(loaded) == found(model)
    plain = NearDuplicateDetector(threshold=10, expectedSize=10).fit(hashed)
    assert all(matches == [] for matches in found(plain).values())
