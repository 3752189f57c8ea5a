"""Matching beyond the primary threshold, end to end (broker, Spark, Delta): flipped and rotated
copies found by dihedral matching, and a rule over two hashes refusing a pair within the
threshold."""

from __future__ import annotations

import shutil

import cv2
import pytest

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
