"""ImageTransformer's speed on one core against a per-row Python UDF doing the same with PIL.

    python -m bench.transform [--images 60] [--repeats 3]

One Spark session on one core (local[1]) reads the same JPEGs of at least 2 MP (bench.photos) as
binaryFile content, cached in memory. Each side turns every file into Spark's image struct of its
centre after a resize of the shorter side to 256: the stage as
ImageTransformer(inputCol="content").resize(256, keepAspectRatio=True).centerCrop(224, 224) (one
Arrow UDF, OpenCV), the baseline as a plain Python UDF called once per row (PIL: decode, bilinear
resize, crop, BGR bytes). The stage decodes a JPEG whose first stage shrinks it at a reduced scale
(libjpeg's DCT scaling); a second baseline does the same with PIL (Image.draft). Images/s are over
the wall time of writing the column to Spark's noop sink, median of the repeats. The same work
outside Spark, per second of CPU time (which a busy machine does not stretch as it stretches wall
time), shows what is left to Spark's own costs. Prints JSON lines, then the ratios.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from collections.abc import Callable

import numpy as np
from PIL import Image
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bench.photos import jpeg_corpus
from streaming.config import load_config
from streaming.image.codec import from_struct, to_struct
from streaming.local.spark import spark_session
from streaming.ml import ImageTransformer
from streaming.ml.transform import IMAGE_STRUCT

SIDE, CROP = 256, 224


def pil_transform(data: bytes, draft: bool) -> dict | None:
    """What the stage does, with PIL, for one row."""
    try:
        image = Image.open(io.BytesIO(data))
        if draft:
            image.draft("RGB", (SIDE, SIDE))  # JPEG only: decodes at 1/2, 1/4 or 1/8 of the size
        image = image.convert("RGB")
        width, height = image.size
        ratio = SIDE / min(width, height)
        image = image.resize((round(width * ratio), round(height * ratio)), Image.BILINEAR)
        width, height = image.size
        left, top = width // 2 - CROP // 2, height // 2 - CROP // 2
        image = image.crop((left, top, left + CROP, top + CROP))
        return to_struct(np.asarray(image)[..., ::-1], None)
    except Exception:
        return None


def rate(frame: Callable[[], DataFrame], images: int, repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        frame().write.format("noop").mode("overwrite").save()
        seconds.append(time.perf_counter() - started)
    return images / statistics.median(seconds)


def cpu_rate(work: Callable[[], object], images: int) -> float:
    started = time.process_time()
    work()
    return images / (time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    paths = jpeg_corpus(args.images, 2_000_000)
    blobs = [p.read_bytes() for p in paths]
    spark = spark_session(load_config(overrides={"spark.master": "local[1]"}))
    spark.conf.set("spark.sql.execution.pythonUDF.arrow.enabled", "false")  # one row at a time
    try:
        files = spark.read.format("binaryFile").load([str(p) for p in paths]).cache()
        count = files.count()
        stage = ImageTransformer(inputCol="content", outputCol="out")
        stage = stage.resize(SIDE, keepAspectRatio=True).centerCrop(CROP, CROP)
        pil = F.udf(lambda data: pil_transform(data, draft=False), IMAGE_STRUCT)
        pil_draft = F.udf(lambda data: pil_transform(data, draft=True), IMAGE_STRUCT)
        ours = stage.transform(files.limit(1)).first()["out"]
        theirs = files.limit(1).select(pil("content").alias("out")).first()["out"]
        difference = np.abs(
            from_struct(ours.asDict()).astype(int) - from_struct(theirs.asDict()).astype(int)
        )
        results = {
            "image_transformer": rate(
                lambda: stage.transform(files).select("out"), count, args.repeats
            ),
            "pil_udf": rate(lambda: files.select(pil("content")), count, args.repeats),
            "pil_udf_draft": rate(lambda: files.select(pil_draft("content")), count, args.repeats),
        }
    finally:
        spark.stop()
    recipe = stage.recipe()
    outside = {
        "image_transformer": cpu_rate(lambda: recipe.apply_all(blobs), len(blobs)),
        "pil_udf": cpu_rate(lambda: [pil_transform(b, False) for b in blobs], len(blobs)),
        "pil_udf_draft": cpu_rate(lambda: [pil_transform(b, True) for b in blobs], len(blobs)),
    }
    for name, images_per_cpu_s in outside.items():
        print(json.dumps({"outside_spark": name, "images_per_cpu_s": round(images_per_cpu_s, 1)}))
    for name, images_per_s in results.items():
        print(
            json.dumps(
                {"stage": name, "images": count, "images_per_s_per_core": round(images_per_s, 1)}
            )
        )
    print(
        json.dumps(
            {
                "speedup_over_pil_udf": round(results["image_transformer"] / results["pil_udf"], 2),
                "speedup_over_pil_udf_draft": round(
                    results["image_transformer"] / results["pil_udf_draft"], 2
                ),
                "outside_spark_speedup_over_pil": round(
                    outside["image_transformer"] / outside["pil_udf"], 2
                ),
                "mean_abs_pixel_difference_vs_pil": round(float(difference.mean()), 2),
                "goal": ">= 3x over pil_udf",
            }
        )
    )


if __name__ == "__main__":
    main()
