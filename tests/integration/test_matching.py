"""Matching beyond the primary threshold, end to end (broker, Spark, Delta): flipped and rotated
copies found by dihedral matching, and a rule over two hashes refusing a pair within the
threshold."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest
from deltalake import DeltaTable

from streaming.hashing import HashSpec, hash_image, hex_to_words
from streaming.index.distance import distance
from streaming.samples import write_samples
from streaming.schemas import validator

from .corpus import produce, references
from .streams import fresh, read_topic, run_available_now


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_samples(tmp_path_factory.mktemp("photos"), variants_of=1, edits=("crop5",))


def test_flipped_and_rotated_copies_alert_with_their_transform(spark, topics, photos, tmp_path):
    config = fresh(topics, tmp_path).replace(**{"hashing.dihedral": True})
    original = photos.originals[0]
    pixels = cv2.imread(str(original))
    flipped, rotated = tmp_path / "flipped.jpg", tmp_path / "rotated.jpg"
    cv2.imwrite(str(flipped), cv2.flip(pixels, 1))  # left to right
    cv2.imwrite(str(rotated), cv2.rotate(pixels, cv2.ROTATE_90_COUNTERCLOCKWISE))
    paths = [*photos.originals[:4], flipped, rotated]
    produce(config, config.kafka.images_topic, references(paths))
    run_available_now(spark, config)

    alerts = read_topic(config, config.kafka.alerts_topic)
    found = {(a["image_id"], a["transform"]) for a in alerts if a["match_id"] == str(original)}
    assert found == {(str(flipped), "flip_h"), (str(rotated), "rot90")}
    for alert in alerts:
        validator("duplicate_alert").validate(alert)
        assert alert["distance"] == alert["distances"]["phash"] <= config.hashing.threshold
        assert alert["image_id"] in (str(flipped), str(rotated))


def test_a_confirming_hash_refuses_a_pair_the_threshold_alone_accepts(
    spark, topics, photos, tmp_path
):
    """hashing.confirm = {dhash = d - 1}: compiled into the rule the stream applies."""
    original = photos.originals[0]
    ((cropped, _),) = photos.variants.items()
    copy = tmp_path / "copy.jpg"
    shutil.copyfile(original, copy)  # the same bytes under another id: every distance 0
    spec = HashSpec(types=("phash", "dhash"))
    hashes = {p: hash_image(p.read_bytes(), spec).hashes for p in (original, cropped)}
    apart = {
        t: distance(t, hex_to_words(hashes[original][t]), hex_to_words(hashes[cropped][t]), 8)
        for t in spec.types
    }
    config = fresh(topics, tmp_path)
    threshold = config.hashing.threshold
    assert apart["phash"] <= threshold and apart["dhash"] > 0  # the crop alerts on phash alone
    config = config.replace(**{"hashing.confirm": {"dhash": apart["dhash"] - 1}})
    produce(config, config.kafka.images_topic, references([original, cropped, copy]))
    run_available_now(spark, config)

    alerts = read_topic(config, config.kafka.alerts_topic)
    assert {(a["image_id"], a["match_id"]) for a in alerts} == {(str(copy), str(original))}


def central_crop(photo: Path, share: float, folder: Path) -> Path:
    """The photo with `share` of its width and height cut off, half on each side, as a JPEG."""
    pixels = cv2.imread(str(photo))
    h, w = pixels.shape[:2]
    dy, dx = int(h * share / 2), int(w * share / 2)
    path = folder / f"{photo.stem}-crop{round(share * 100)}.jpg"
    cv2.imwrite(str(path), pixels[dy : h - dy, dx : w - dx], [cv2.IMWRITE_JPEG_QUALITY, 75])
    return path


@pytest.fixture
def crops(photos, tmp_path):
    """Three photos and their 20 % central crops, each too far from its photo for phash alone."""
    originals = photos.originals[:3]
    cuts = {photo: central_crop(photo, 0.2, tmp_path) for photo in originals}
    spec = HashSpec(types=("phash",))
    for photo, cut in cuts.items():
        words = [
            hex_to_words(hash_image(p.read_bytes(), spec).hashes["phash"]) for p in (photo, cut)
        ]
        assert distance("phash", *words, 8) > 10, photo  # conf/local.toml's threshold
    return cuts


def test_a_central_crop_and_its_photo_alert_whichever_comes_first(spark, topics, crops, tmp_path):
    """hashing.crops = [0.1, 0.2]: a crop after its photo meets the photo's indexed crop20
    (crop20), from an earlier micro-batch (a) or within one (c); a photo after its crop (b) meets
    the crop with its own crop20 (uncrop20)."""
    config = fresh(topics, tmp_path).replace(
        **{"hashing.crops": [0.1, 0.2], "index.lookup": "memory"}
    )
    a, b, c = crops
    produce(config, config.kafka.images_topic, references([a, crops[b]]))
    run_available_now(spark, config)
    produce(config, config.kafka.images_topic, references([crops[a], b, c, crops[c]]))
    run_available_now(spark, config)

    alerts = read_topic(config, config.kafka.alerts_topic)
    assert {(x["image_id"], x["match_id"], x["transform"]) for x in alerts} == {
        (str(crops[a]), str(a), "crop20"),
        (str(b), str(crops[b]), "uncrop20"),
        (str(crops[c]), str(c), "crop20"),
    }
    for alert in alerts:
        validator("duplicate_alert").validate(alert)
        assert alert["distance"] == alert["distances"]["phash"] <= config.hashing.threshold
        assert alert["distances"]["dhash"] is None  # only the primary's crops are stored
    images = DeltaTable(f"{config.index.path}/images").to_pyarrow_table(columns=["crops"])
    # each image registered with its phash's two crops, each after its share in percent
    assert [crops[::2] for crops in images["crops"].to_pylist()] == [[10, 20]] * 6


def test_without_crops_the_same_stream_does_not_alert(spark, topics, crops, tmp_path):
    config = fresh(topics, tmp_path)
    a, b, c = crops
    paths = [a, crops[b], crops[a], b, c, crops[c]]
    produce(config, config.kafka.images_topic, references(paths))
    run_available_now(spark, config)
    assert read_topic(config, config.kafka.alerts_topic) == []
    images = DeltaTable(f"{config.index.path}/images").to_pyarrow_table(columns=["id", "crops"])
    assert sorted(images["id"].to_pylist()) == sorted(map(str, paths))  # each one was hashed
    assert images["crops"].null_count == len(paths)  # and registered without crops
