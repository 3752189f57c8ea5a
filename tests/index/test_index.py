"""The Delta index and banded matching on real Spark and Delta, against brute force."""

from __future__ import annotations

import itertools
import json
import os
import uuid
from pathlib import Path

import numpy as np
import pytest
from delta.tables import DeltaTable as SparkDeltaTable
from deltalake import DeltaTable
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from streaming.batch.dedup import find_pairs
from streaming.hashing import HashSpec, hash_images, hex_to_words
from streaming.index.crops import entry_key, split_entry, stored_crops
from streaming.index.join import JoinLookup
from streaming.index.match import match_index
from streaming.index.resident import ResidentLookup
from streaming.index.sharded import ShardedLookup
from streaming.index.table import HashIndex, table_schema
from streaming.samples import write_samples
from streaming.storage import delta_storage_options

THRESHOLD = 10


def planted_hashes(count: int, seed: int) -> list[int]:
    """Random 64-bit hashes, and for every fifth one a neighbour 0..THRESHOLD+2 bits away."""
    rng = np.random.default_rng(seed)
    hashes = [int(h) for h in rng.integers(-(2**63), 2**63 - 1, count, dtype=np.int64)]
    for i in range(0, count, 5):
        flips = rng.choice(64, size=int(rng.integers(0, THRESHOLD + 3)), replace=False)
        mask = sum(1 << int(bit) for bit in flips)
        neighbour = (hashes[i] & (2**64 - 1)) ^ mask
        hashes.append(neighbour - 2**64 if neighbour >= 2**63 else neighbour)
    return hashes


def hamming(a: int, b: int) -> int:
    return bin((a ^ b) & (2**64 - 1)).count("1")


def rows(spark, hashes: list[int], prefix: str):
    return spark.createDataFrame(
        [(f"{prefix}{i}", [h]) for i, h in enumerate(hashes)], "id string, hash array<bigint>"
    )


def index_rows(frame):
    return frame.select("id", F.col("hash").alias("phash"), F.lit(8).alias("hash_size"))


@pytest.fixture
def index(spark, tmp_path) -> HashIndex:
    index = HashIndex(spark, str(tmp_path / "index"), "phash", 8, THRESHOLD, expected_size=1000)
    index.ensure()
    return index


def test_an_index_at_a_relative_path_is_created_where_the_path_points(spark, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default index.path, .state/index, is relative
    index = HashIndex(spark, ".state/index", "phash", 8, THRESHOLD, expected_size=1000)
    index.ensure()
    assert index.path == str(tmp_path / ".state" / "index")
    assert DeltaTable(str(tmp_path / ".state" / "index" / "images")).version() == 0


def test_match_index_finds_exactly_the_pairs_brute_force_finds(spark, index):
    stored = planted_hashes(600, seed=1)
    queries = [h ^ (1 << 3) for h in stored[::7]] + planted_hashes(40, seed=2)
    index.register(index_rows(rows(spark, stored, "s")), "test", 0)
    found = {
        (r["query_id"], r["match_id"], r["distance"])
        for r in match_index(rows(spark, queries, "q"), index, THRESHOLD).collect()
    }
    brute = {
        (f"q{i}", f"s{j}", hamming(q, s))
        for (i, q), (j, s) in itertools.product(enumerate(queries), enumerate(stored))
        if hamming(q, s) <= THRESHOLD
    }
    assert found == brute
    assert len(brute) >= 80


def test_both_lookups_follow_the_latest_snapshot(spark, index):
    """The resident hashes read only the files each append adds, and read the table again after
    OPTIMIZE rewrote it; either way they answer what the join of the bands table answers, and
    what brute force does."""
    stored = planted_hashes(300, seed=8)
    queries = [h ^ (1 << 5) for h in stored[::11]] + planted_hashes(20, seed=9)
    ids = [f"q{i}" for i in range(len(queries))]
    resident, joined = ResidentLookup(index), JoinLookup(index)

    def brute(upto: int) -> dict:
        return {
            (f"q{i}", f"s{j}"): hamming(q, s)
            for (i, q), (j, s) in itertools.product(enumerate(queries), enumerate(stored[:upto]))
            if hamming(q, s) <= THRESHOLD
        }

    assert resident.near(ids, [[q] for q in queries], THRESHOLD) == {}
    for version, (start, upto) in enumerate(((0, 200), (200, len(stored)))):
        added = [f"s{i}" for i in range(start, upto)]
        new_rows = index_rows(rows(spark, stored, "s")).where(F.col("id").isin(added))
        stamped = new_rows.withColumn(
            "source_timestamp", F.timestamp_seconds(F.lit(1_700_000_000.25) + F.rand())
        )
        index.append(stamped, "test", version)
        files_before = set(resident.files)
        found = resident.near(ids, [[q] for q in queries], THRESHOLD)
        # the new files were added to those already read
        assert files_before < resident.files.keys()
        # read from the commits it added
        assert resident.version == DeltaTable(index.images_path).version()
        assert found == joined.near(ids, [[q] for q in queries], THRESHOLD) == brute(upto)
        # The rows of some ids, as the alerts report them: read from the files that hold them, or
        # scanned.
        some = ["s0", f"s{upto - 1}", f"s{upto}", "nobody"]
        columns = ["id", "bank", "phash", "source_timestamp", "source_offset"]
        assert resident.rows(some, columns) == joined.rows(some, columns)
        assert set(resident.rows(some, columns)) == {"s0", f"s{upto - 1}"}
    index.optimize()
    assert resident.near(ids, [[q] for q in queries], THRESHOLD) == brute(len(stored))
    assert len(resident.bands) == len(stored)  # read again, not added twice
    assert len(brute(len(stored))) >= 40


def test_the_resident_lookup_follows_an_index_on_s3_as_on_a_local_disk(spark, s3, index):
    """On the S3 server, through S3A for the writes and delta-rs for the log and the files: the
    same answers as the local index, commit by commit."""
    path = f"s3://lake/{uuid.uuid4().hex[:8]}/index"
    options = delta_storage_options(s3, path)
    remote = HashIndex(spark, path, "phash", 8, THRESHOLD, 1000, storage_options=options)
    remote.ensure()
    stored = planted_hashes(80, seed=11)
    queries, ids = [[h ^ 1] for h in stored[::4]], [f"q{i}" for i in range(len(stored[::4]))]
    some, columns = (
        ["s1", "s3", "s90", "nobody"],
        ["id", "phash", "source_offset", "source_timestamp"],
    )
    local_lookup, remote_lookup = ResidentLookup(index), ResidentLookup(remote)
    frame = index_rows(rows(spark, stored, "s")).withColumn("source_offset", F.lit(7).cast("long"))
    for version, part in enumerate(
        ([f"s{i}" for i in range(50)], [f"s{i}" for i in range(50, 96)])
    ):
        for target in (index, remote):
            target.append(frame.where(F.col("id").isin(part)), "t", version)
        expected = (local_lookup.near(ids, queries, THRESHOLD), local_lookup.rows(some, columns))
        assert (remote_lookup.near(ids, queries, THRESHOLD), remote_lookup.rows(some, columns)) == (
            expected
        )
        assert (
            remote_lookup.version == DeltaTable(path + "/images", storage_options=options).version()
        )
    assert len(expected[0]) >= len(queries) and set(expected[1]) == {"s1", "s3", "s90"}


def test_the_resident_lookup_refuses_deletion_vectors(spark, index):
    spark.sql(
        f"ALTER TABLE delta.`{index.images_path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' "
        "= 'true')"
    )
    with pytest.raises(ValueError, match="deletion vectors"):
        ResidentLookup(index)


def test_the_join_completes_the_bands_a_memory_lookup_stream_did_not_write(spark, index):
    stored = planted_hashes(100, seed=10)
    index.append(index_rows(rows(spark, stored[:60], "s")), "stream", 0, with_bands=False)
    index.append(
        index_rows(rows(spark, stored, "s")).where(
            F.col("id").isin([f"s{i}" for i in range(60, 120)])
        ),
        "stream",
        1,
    )
    assert index.bands().select("id").distinct().count() == 60
    queries = stored[::3]
    ids = [f"q{i}" for i in range(len(queries))]
    expected = ResidentLookup(index).near(ids, [[q] for q in queries], THRESHOLD)
    assert JoinLookup(index).near(ids, [[q] for q in queries], THRESHOLD) == expected
    JoinLookup(index)  # a second query start: nothing left to complete
    assert index.bands().count() == len(stored) * index.plan.bands
    assert len(expected) >= len(queries)


def test_registration_is_idempotent(spark, index):
    frame = index_rows(rows(spark, planted_hashes(50, seed=4), "r"))
    assert index.register(frame, "app", 7) == 60
    assert index.register(frame, "app", 7) == 0  # the same micro-batch again
    assert index.register(frame, "other-app", 0) == 0  # another writer with the same ids
    assert {row["id"] for row in index.lookup(["r0", "r59", "r60", "nobody"], ["id"])} == {
        "r0",
        "r59",
    }
    assert index.lookup([], ["id"]) == []
    ids = DeltaTable(index.images_path).to_pyarrow_table().column("id").to_pylist()
    assert sorted(ids) == sorted(f"r{i}" for i in range(60))
    bands = DeltaTable(index.bands_path).to_pyarrow_table()
    assert bands.num_rows == 60 * index.plan.bands
    stats = index.stats()
    assert (stats["path"], stats["images"]) == (index.images_path, 60)
    assert (stats["bands"], stats["banks"]) == (60 * index.plan.bands, {})
    images = DeltaTable(index.images_path)
    assert stats["version"] == images.version() and stats["index_lag_s"] >= 0
    assert (stats["files"], stats["bytes"]) == (
        len(images.file_uris()),
        sum(os.path.getsize(uri.removeprefix("file://")) for uri in images.file_uris()),
    )
    json.dumps(stats)


def test_a_crash_between_the_two_commits_is_repaired_by_the_rerun(spark, index):
    frame = index_rows(rows(spark, planted_hashes(20, seed=5), "c"))
    # The bands commit of version 3 happened, the images commit did not.
    index.band_rows(
        frame.select(
            *frame.columns,
            *(
                F.lit(None).alias(c)
                for c in (
                    "bank",
                    "source_timestamp",
                    "source_partition",
                    "source_offset",
                    "registered_by",
                    "batch_id",
                )
            ),
        )
    ).write.format("delta").mode("append").option("txnAppId", "app").option("txnVersion", 3).save(
        index.bands_path
    )
    assert index.register(frame, "app", 3) == 24
    assert DeltaTable(index.bands_path).to_pyarrow_table().num_rows == 24 * index.plan.bands


def test_dedup_of_a_folder_equals_brute_force_on_real_photos(spark, config, tmp_path):
    samples = write_samples(tmp_path / "photos", variants_of=5)
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"\xff\xd8 broken")
    pairs, failed = find_pairs(spark, config, str(tmp_path / "photos"))
    paths = sorted(str(p) for p in [*samples.originals, *samples.variants])
    words = [
        hex_to_words(r.hashes["phash"])[0]
        for r in hash_images([Path(p).read_bytes() for p in paths], HashSpec())
    ]
    brute = sorted(
        (paths[i], paths[j], hamming(words[i], words[j]))
        for i, j in itertools.combinations(range(len(paths)), 2)
        if hamming(words[i], words[j]) <= config.hashing.threshold
    )
    assert [(a, b, apart) for a, b, apart, _ in pairs] == brute
    assert {transform for *_, transform in pairs} == {"identity"}  # no dihedral, no crops
    assert {(str(v), str(o)) for v, o in samples.variants.items()} & {
        (a, b) for a, b, *_ in pairs
    } | {(b, a) for a, b, *_ in pairs}
    assert [f[1] for f in failed] == ["undecodable"]


def test_dedup_command_writes_pairs_and_a_self_contained_report(spark, tmp_path):
    from streaming.cli import main

    samples = write_samples(tmp_path / "photos", variants_of=2)
    out, report = tmp_path / "pairs.jsonl", tmp_path / "dup.html"
    assert (
        main(["dedup", str(tmp_path / "photos"), "--output", str(out), "--report", str(report)])
        == 0
    )
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(p["a"], p["b"]) for p in pairs} >= {
        tuple(sorted((str(v), str(o))))
        for v, o in samples.variants.items()
        if "hubble" not in str(v)
    }
    assert {p["transform"] for p in pairs} == {"identity"}
    page = report.read_text()
    assert page.count("<section>") >= 2
    assert page.count('src="data:image/jpeg;base64,') >= 2 * 4
    assert "http" not in page.split("<body", 1)[-1].replace("data:image", "")


def test_dedup_finds_a_mirror_and_a_central_crop_with_the_streams_schemes_only(
    spark, config, mirror_and_crop
):
    """hashing.dihedral and hashing.crops apply to a folder as to the stream: a photo and its
    mirror pair as flip_h, a photo and its 20 % central crop as crop20 (b is a's central 80 %);
    without them neither pair is within the threshold."""

    def found(**schemes: object) -> dict[tuple[str, str], str]:
        pairs, failed = find_pairs(spark, config.replace(**schemes), str(mirror_and_crop))
        assert not failed
        return {(Path(p.a).name, Path(p.b).name): p.transform for p in pairs}

    assert found() == {}
    assert found(**{"hashing.dihedral": True, "hashing.crops": [0.2]}) == {
        ("astronaut.png", "astronaut_mirror.png"): "flip_h",
        ("coffee.png", "coffee_crop.png"): "crop20",
    }


def test_two_writers_adding_the_same_ids_at_once_give_each_id_one_row(spark, index, caplog):
    """Writer "slow" is held inside its commit while writer "fast" commits some of the same ids:
    the anti-join in each commit finds them absent, so Delta fails whichever commits second, which
    reads the table again, drops the ids the other added and commits the rest."""
    import threading
    import time

    def pause_once(uri):  # one row of the slow writer waits: its commit spans the other's
        if uri == "w1":
            time.sleep(8)
        return uri

    hashes = planted_hashes(40, seed=12)
    frame = index_rows(rows(spark, hashes, "w"))
    slow = frame.withColumn("uri", F.udf(pause_once, "string")(F.col("id")))
    evens = [f"w{i}" for i in range(0, 48, 2)]
    writer = threading.Thread(target=index.append, args=(slow, "slow", 0))
    with caplog.at_level("INFO", logger="streaming.index.table"):
        writer.start()
        time.sleep(3)
        index.append(frame.where(F.col("id").isin(evens)), "fast", 0, checked_ids=evens)
        writer.join()
    # one of the two lost the race and committed again
    assert "lost a commit to a concurrent writer (ConcurrentAppendException)" in caplog.text
    table = DeltaTable(index.images_path).to_pyarrow_table()
    ids = table.column("id").to_pylist()
    assert sorted(ids) == sorted(f"w{i}" for i in range(48))  # each id once


def driver_rows(hashes: list[int], prefix: str, app_id: str, batch_id: int) -> list[dict]:
    """Rows as the stream registers them from the driver (MicroBatch.register)."""
    return [
        {
            "id": f"{prefix}{i}",
            "phash": [h],
            "hash_size": 8,
            "source_offset": i,
            "registered_by": app_id,
            "batch_id": batch_id,
        }
        for i, h in enumerate(hashes)
    ]


def test_driver_commits_are_idempotent_and_spark_and_delta_rs_write_the_same_tables(spark, index):
    """The stream's delta-rs commits on a Spark-created index: a version committed twice is
    skipped, an id another writer holds is not added again, and Spark reads and appends after."""
    hashes = planted_hashes(30, seed=14)
    batch = driver_rows(hashes, "d", "stream", 4)
    index.append_rows(batch, "stream", 4, checked=True)
    index.append_rows(batch, "stream", 4, checked=True)  # the same micro-batch again
    index.append_rows(driver_rows(hashes, "d", "other", 0), "other", 0, checked=True)
    assert index.register(index_rows(rows(spark, hashes, "d")), "spark", 0) == 0  # all held
    images = index.images()
    assert images.count() == 36 and images.select("id").distinct().count() == 36
    assert {r["registered_by"] for r in images.select("registered_by").collect()} == {"stream"}
    # the stream's bands once; the other writer's stay (bands only propose candidates)
    assert index.bands().count() == 2 * 36 * index.plan.bands
    index.append(index_rows(rows(spark, hashes[:3], "s")), "spark", 1)
    index.append_rows(driver_rows(hashes[:3], "s", "stream", 5), "stream", 5, checked=True)
    assert index.size() == 39
    history = DeltaTable(index.images_path).history()
    # Spark commits its empty writes; a MERGE that adds nothing commits nothing
    assert [h["operation"] for h in history] == ["WRITE", "WRITE", "MERGE", "CREATE TABLE"]
    # a micro-batch's rows find their matches through the bands delta-rs wrote
    queries = [[h ^ 1] for h in hashes[:10]]
    found = JoinLookup(index).near([f"q{i}" for i in range(10)], queries, THRESHOLD)
    assert {(q, f"d{i}") for i, q in enumerate(f"q{j}" for j in range(10))} <= set(found)


@pytest.mark.parametrize("winner", ["spark", "delta-rs"])
def test_a_driver_commit_that_loses_a_race_adds_each_id_once(spark, index, caplog, winner):
    """The stream's writer read the index, then another writer committed some of the same ids
    before the stream's MERGE did: the conflict check fails the MERGE, which reads the table
    again and adds only the ids still absent."""
    hashes = planted_hashes(40, seed=15)
    evens = [f"w{i}" for i in range(0, 48, 2)]
    slow = index._driver_writer("images", "slow")
    slow.schema()  # read once per writer, before the commits
    read_before = slow.table.latest()  # the snapshot the stream's commit starts from
    if winner == "spark":
        fast = index_rows(rows(spark, hashes, "w")).where(F.col("id").isin(evens))
        index.append(fast, "fast", 0, checked_ids=evens)
    else:
        fast_rows = [r for r in driver_rows(hashes, "w", "fast", 0) if r["id"] in evens]
        index.append_rows(fast_rows, "fast", 0, checked=True)
    follow = slow.table.latest
    served = iter([read_before])  # once: the commit's first attempt runs on the old snapshot
    slow.table.latest = lambda: next(served, None) or follow()  # type: ignore[method-assign]
    with caplog.at_level("INFO", logger="streaming.index.table"):
        index.append_rows(driver_rows(hashes, "w", "slow", 0), "slow", 0, checked=True)
    assert "lost a commit to a concurrent writer (CommitFailedError)" in caplog.text
    ids = DeltaTable(index.images_path).to_pyarrow_table().column("id").to_pylist()
    assert sorted(ids) == sorted(f"w{i}" for i in range(48))  # each id once


def test_spark_loses_a_race_to_a_driver_commit_and_adds_each_id_once(
    spark, index, caplog, tmp_path
):
    """As the two Spark writers above, with the fast one a delta-rs MERGE from the driver, which
    commits once the slow Spark job is running (its snapshot read): Spark's conflict check sees the
    MERGE's files (not a blind append) and fails the slow writer's commit."""
    import threading
    import time

    inside = tmp_path / "slow-writer-inside"

    def pause_once(uri):
        if uri == "w1":
            inside.touch()
            time.sleep(8)
        return uri

    hashes = planted_hashes(40, seed=16)
    frame = index_rows(rows(spark, hashes, "w"))
    slow = frame.withColumn("uri", F.udf(pause_once, "string")(F.col("id")))
    evens = [f"w{i}" for i in range(0, 48, 2)]
    writer = threading.Thread(target=index.append, args=(slow, "slow", 0))
    with caplog.at_level("INFO", logger="streaming.index.table"):
        writer.start()
        while not inside.exists():
            time.sleep(0.1)
        fast = [r for r in driver_rows(hashes, "w", "fast", 0) if r["id"] in evens]
        index.append_rows(fast, "fast", 0, checked=True)
        writer.join()
    assert "lost a commit to a concurrent writer (ConcurrentAppendException)" in caplog.text
    ids = DeltaTable(index.images_path).to_pyarrow_table().column("id").to_pylist()
    assert sorted(ids) == sorted(f"w{i}" for i in range(48))


def test_an_older_index_gains_the_meta_column_and_every_lookup_reads_it(spark, tmp_path):
    """An `images` table from before `meta` and `crops` (ADDED_COLUMNS): opening the index adds
    them, its old rows read NULL, and the matched rows' meta comes back from each lookup's one
    read."""
    path = str(tmp_path / "index")
    older = StructType([f for f in table_schema("images") if f.name not in ("meta", "crops")])
    SparkDeltaTable.createIfNotExists(spark).location(f"{path}/images").addColumns(older).execute()
    spark.createDataFrame(
        [("old", [0], 8)], "id string, phash array<bigint>, hash_size int"
    ).write.format("delta").mode("append").save(f"{path}/images")
    index = HashIndex(spark, path, "phash", 8, THRESHOLD, expected_size=1000)
    index.ensure()
    assert {"meta", "crops"} <= set(index.images().columns)
    index.append_rows(
        [{"id": "new", "phash": [1], "hash_size": 8, "meta": '{"sku": "12"}'}], "t", 0
    )
    expected = {"old": {"id": "old", "meta": None}, "new": {"id": "new", "meta": '{"sku": "12"}'}}
    for lookup in (ResidentLookup(index), JoinLookup(index), ShardedLookup(index, 1)):
        assert set(lookup.near(["q"], [[3]], THRESHOLD)) == {("q", "old"), ("q", "new")}
        assert lookup.rows(["old", "new"], ["id", "meta"]) == expected, type(lookup).__name__


def test_the_memory_and_sharded_lookups_index_each_stored_crop_as_an_entry(spark, tmp_path):
    """With hashing.crops (HashIndex(crops=True)) both lookups find what brute force over every
    image's hash and stored crops finds, a crop under its entry key (index/crops.py), from rows of
    the stream's driver commits and of Spark's alike, and give the row of an image met through a
    crop alone; without crops, the hashes alone. The join lookup is refused with hashing.crops
    (tests/unit/test_config.py)."""
    path = str(tmp_path / "index")
    index = HashIndex(spark, path, "phash", 8, THRESHOLD, expected_size=1000, crops=True)
    index.ensure()
    own, cut = planted_hashes(120, seed=12), planted_hashes(120, seed=13)
    crops = {f"s{i}": stored_crops([cut[i], cut[i + 1]], [0.1, 0.2]) for i in range(0, 120, 3)}
    image_rows = [
        {"id": f"s{i}", "phash": [h], "hash_size": 8, "crops": crops.get(f"s{i}")}
        for i, h in enumerate(own)
    ]
    index.append_rows(image_rows[:60], "stream", 0)
    spark_rows = spark.createDataFrame(
        image_rows[60:], "id string, phash array<bigint>, hash_size int, crops array<bigint>"
    )
    index.append(spark_rows, "batch", 0)
    entries = {f"s{i}": h for i, h in enumerate(own)} | {
        entry_key(image_id, f"crop{stored[k]}"): stored[k + 1]
        for image_id, stored in crops.items()
        for k in (0, 2)
    }
    queries = [h ^ (1 << 9) for h in list(entries.values())[::4]] + planted_hashes(30, seed=14)
    ids = [f"q{i}" for i in range(len(queries))]

    def brute(keys) -> dict:
        return {
            (ids[i], key): hamming(q, entries[key])
            for (i, q), key in itertools.product(enumerate(queries), keys)
            if hamming(q, entries[key]) <= THRESHOLD
        }

    expected = brute(entries)
    through_crops = {split_entry(key)[0] for _, key in expected if split_entry(key)[1]}
    assert len(through_crops) >= 10
    for lookup in (ResidentLookup(index), ShardedLookup(index, 2)):
        assert lookup.near(ids, [[q] for q in queries], THRESHOLD) == expected
        assert set(lookup.rows(through_crops, ["id"])) == through_crops, type(lookup).__name__
    plain = HashIndex(spark, path, "phash", 8, THRESHOLD, expected_size=1000)
    own_only = [key for key in entries if split_entry(key)[1] is None]
    assert ResidentLookup(plain).near(ids, [[q] for q in queries], THRESHOLD) == brute(own_only)
