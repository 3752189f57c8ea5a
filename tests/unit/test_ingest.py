"""Ingest without Spark: the mapInPandas function on Kafka records as pandas gives them, one row per
record, a hostile record a row with its reason, never an exception."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import cv2
import numpy as np
import pandas as pd

from streaming.config import load_config
from streaming.hashing import HashSpec
from streaming.imageframe import CHUNK
from streaming.stream.ingest import ingest
from streaming.stream.job import hash_spec
from streaming.stream.microbatch import index_row


def ref(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_every_record_is_one_row_and_a_hostile_one_a_reason(tmp_path):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8))
    config = load_config(
        environ={},
        overrides={"sources.allowed_roots": [str(tmp_path)], "sources.max_bytes": 50_000},
    )
    inline = base64.b64encode(b"x" * 60_000).decode()
    records = {
        None: (b"\xff\xfe", ref(id="good", uri=str(photo))),
        "message_too_large": (b"k", b" " * (config.sources.max_message_bytes + 1)),
        "not_utf8": (b"k", b'{"id": "\xff"}'),
        "too_deeply_nested": (b"k", b"[" * 10_000 + b"]" * 10_000),
        "id_too_long": (b"k", ref(id="a" * 100_000, uri="x")),
        "meta_too_large": (b"k", ref(id="m", uri="x", meta={"m": "x" * 70_000})),
        "bad_uri": (b"k", ref(id="u", uri="/a\u0000.jpg")),
        "too_many_bytes": (b"k", ref(id="c", content=inline)),
    }
    kafka = pd.DataFrame(
        {
            "key": [key for key, _ in records.values()],
            "value": [value for _, value in records.values()],
            "topic": "images",
            "partition": 0,
            "offset": range(len(records)),
            "timestamp": pd.Timestamp("2026-12-01"),
        }
    )
    (rows,) = ingest(config, HashSpec(types=("phash",)))(iter([kafka]))
    assert rows["error_code"].tolist() == list(records)
    assert rows["id"].tolist()[:1] == ["good"]
    assert rows["key"].tolist()[0] == "\ufffd\ufffd"  # not UTF-8: replaced, and not a reason
    assert rows["phash"].tolist()[0] is not None
    assert rows["value"].tolist()[0] is None  # kept for dead letters only
    values = [value.decode("utf-8", "replace") for _, value in list(records.values())[1:]]
    assert rows["value"].tolist()[1:] == values


def test_with_dihedral_matching_a_row_carries_the_8_variants_of_each_type_that_has_them(tmp_path):
    photo = tmp_path / "photo.png"
    pixels = cv2.resize(np.random.default_rng(2).integers(0, 256, (6, 8, 3), np.uint8), (320, 240))
    cv2.imwrite(str(photo), pixels)
    cv2.imwrite(str(tmp_path / "flipped.png"), cv2.flip(pixels, 1))
    config = load_config(environ={}, overrides={"sources.allowed_roots": [str(tmp_path)]})
    kafka = pd.DataFrame(
        {
            "key": [b"a", b"b", b"c"],
            "value": [
                ref(id="a", uri=str(photo)),
                ref(id="b", uri=str(tmp_path / "flipped.png")),
                b"{",
            ],
            "topic": "images",
            "partition": 0,
            "offset": range(3),
            "timestamp": pd.Timestamp("2026-12-01"),
        }
    )
    spec = HashSpec(types=("phash", "dhash", "colorhash"), dihedral=True)
    (rows,) = ingest(config, spec)(iter([kafka]))
    assert [c for c in rows.columns if c.endswith("_variants")] == [
        "phash_variants",
        "dhash_variants",
    ]
    for column in ("phash", "dhash"):
        original, _, bad = rows[f"{column}_variants"].tolist()
        own, flipped, _ = rows[column].tolist()
        assert len(original) == 8 and bad is None
        assert original[:1] == own  # the identity first (one word a hash)
        # the flipped photo's own hash is the original's flip_h variant, or nearly
        assert bin((original[1] ^ flipped[0]) % 2**64).count("1") <= 4


def test_the_next_batch_is_fetched_while_this_one_is_hashed(tmp_path):
    for n in range(3):
        pixels = np.random.default_rng(n).integers(0, 256, (64, 64, 3), np.uint8)
        cv2.imwrite(str(tmp_path / f"{n}.png"), pixels)
    config = load_config(
        environ={},
        overrides={"sources.allowed_roots": [str(tmp_path)], "sources.max_in_flight": 2},
    )
    ids = [[f"a{i}" for i in range(CHUNK + 1)], [], ["b0", "b1"]]
    batches = [
        pd.DataFrame(
            {
                "key": [i.encode() for i in batch],
                "value": [
                    ref(id=i, uri=str(tmp_path / f"{n % 3}.png")) for n, i in enumerate(batch)
                ],
                "topic": "images",
                "partition": 0,
                "offset": range(len(batch)),
                "timestamp": pd.Timestamp("2026-12-01"),
            }
        )
        for batch in ids
    ]
    pulled = []

    def arrow_batches():
        for n, batch in enumerate(batches):
            pulled.append(n)
            yield batch

    frames = ingest(config, HashSpec(types=("phash",)))(arrow_batches())
    first = next(frames)
    pulled_by_first_frame = list(pulled)
    frames = [first, *frames]
    # the last batch's first images were asked for before the first batch's rows came out
    assert pulled_by_first_frame == [0, 1, 2]
    assert [len(frame) for frame in frames] == [CHUNK, 1, 2]  # chunks never span batches
    rows = pd.concat(frames)
    assert rows["id"].tolist() == ids[0] + ids[2]
    assert rows["error_code"].isna().all()
    hashes = rows["phash"].tolist()
    assert hashes[0] == hashes[3] == hashes[-2] != hashes[1]  # each row has its own image's hash


def test_with_crops_a_row_carries_the_crop_hashes_and_registers_the_primarys(tmp_path):
    """hashing.crops = [0.1, 0.2]: the primary's central crops from the one decode (phash_crops),
    the 20 % one the hash of the cropped photo itself, stored in the index row after their
    shares."""
    photo, cut = tmp_path / "photo.png", tmp_path / "cut.png"
    pixels = cv2.resize(np.random.default_rng(3).integers(0, 256, (6, 8, 3), np.uint8), (320, 240))
    cv2.imwrite(str(photo), pixels)
    cv2.imwrite(str(cut), pixels[24:216, 32:288])  # 10 % off each side: the central 80 %
    config = load_config(
        environ={},
        overrides={
            "sources.allowed_roots": [str(tmp_path)],
            "hashing.crops": [0.1, 0.2],
            "index.lookup": "memory",
        },
    )
    kafka = pd.DataFrame(
        {
            "key": [b"a", b"b"],
            "value": [ref(id="a", uri=str(photo)), ref(id="b", uri=str(cut))],
            "topic": "images",
            "partition": 0,
            "offset": range(2),
            "timestamp": pd.Timestamp("2026-12-01"),
        }
    )
    (rows,) = ingest(config, hash_spec(config))(iter([kafka]))
    # the primary's alone: the index keeps no other
    assert [c for c in rows.columns if c.endswith("_crops")] == ["phash_crops"]
    (crop10, crop20), (cut_phash,) = rows["phash_crops"][0], rows["phash"][1]
    assert crop20 == cut_phash
    row = rows.iloc[0].to_dict()
    stored = index_row(row, config, "app", 0, datetime.now(UTC))["crops"]
    assert stored == [10, crop10, 20, crop20]
