"""Banks a team runs (docs/banks.md), end to end on the broker, Spark and Delta: the policies of
the `banks` table read by the stream at the next micro-batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from streaming.batch.bulk import register_files, register_manifest
from streaming.config import Config
from streaming.hashing import HashSpec, hash_images, hex_to_words
from streaming.index.banks import BankTable
from streaming.schemas import arrow_schema
from streaming.stream.job import StreamOptions, open_index, start_stream

from .corpus import (
    Message,
    distinct_images,
    expected_alerts,
    near_duplicate,
    planted_stream,
    produce,
    references,
)
from .streams import (
    alert_pairs,
    fresh,
    index_ids,
    neardup_command,
    read_topic,
    run_available_now,
    wait_for,
)


def members(paths: list[Path], bank: str) -> list[Message]:
    """References to images produced as members of a bank."""
    return [
        Message(str(p), json.dumps({"id": str(p), "uri": str(p), "bank": bank}).encode())
        for p in paths
    ]


def primary_distance(a: Path, b: Path, config: Config) -> int:
    spec = HashSpec(types=(config.hashing.primary,), hash_size=config.hashing.hash_size)
    words = [
        hex_to_words(r.hashes[spec.types[0]])
        for r in hash_images([a.read_bytes(), b.read_bytes()], spec)
    ]
    return sum(bin((x ^ y) & (2**64 - 1)).count("1") for x, y in zip(*words, strict=True))


def rotated(original: Path, config: Config, low: int, high: int) -> tuple[Path, int]:
    """A copy of the image turned by the smallest whole angle that puts its primary hash between
    low and high bits away (and that distance)."""
    image = cv2.imread(str(original))
    height, width = image.shape[:2]
    for angle in range(1, 30):
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        path = original.with_name(f"{original.stem}-turned{angle}.png")
        cv2.imwrite(
            str(path), cv2.warpAffine(image, turn, (width, height), borderMode=cv2.BORDER_REFLECT)
        )
        apart = primary_distance(original, path, config)
        if low <= apart <= high:
            return path, apart
    raise AssertionError(f"no turn of {original} lands {low}..{high} bits away")


def test_an_allow_bank_silences_a_bank_threshold_tightens_and_alerts_carry_both_metas(
    spark, topics, tmp_path
):
    config = fresh(topics, tmp_path)
    threshold = config.hashing.threshold
    stock, tight, loose, seen, listed, loaded = (
        distinct_images(tmp_path / name, count=1, seed=seed)[0]
        for name, seed in (
            *(("stock", 81), ("tight", 82), ("loose", 83), ("seen", 84)),
            *(("listed", 87), ("loaded", 88)),
        )
    )
    # members with metadata: `index add PATH --meta`, and `index add --manifest` (a bad line too)
    index = open_index(spark, config)
    assert register_files(spark, config, index, [str(listed)], "catalogue", {"sku": "L-1"})[0] == 1
    manifest = tmp_path / "catalogue.jsonl"
    lines = [{"id": "loaded-1", "uri": str(loaded), "meta": {"sku": "M-2"}}, {"id": "no-uri"}]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    added, failed = register_manifest(spark, config, index, manifest, "catalogue")
    assert (added, [where for where, _, _ in failed]) == (1, [f"{manifest}:2"])
    listed_copy, loaded_copy = near_duplicate(listed, 0), near_duplicate(loaded, 0)
    with_meta = Message(
        str(listed_copy),
        json.dumps(
            {"id": str(listed_copy), "uri": str(listed_copy), "meta": {"shop": "s1"}}
        ).encode(),
    )
    banks = BankTable(config.index.path)
    banks.set("stock", kind="allow")
    banks.set("tight", threshold=4, labels=("brand", "logos"))
    # a pair the global threshold finds and the tight bank's misses, in each bank
    tight_copy, tight_apart = rotated(tight, config, 5, threshold)
    loose_copy, loose_apart = rotated(loose, config, 5, threshold)
    stock_copy = near_duplicate(stock, 0)
    seen_copy = near_duplicate(seen, 0)
    stream = [stock_copy, tight_copy, loose_copy, seen, seen_copy]
    banked = [*members([stock], "stock"), *members([tight], "tight"), *members([loose], "loose")]
    produce(
        config,
        config.kafka.images_topic,
        [*banked, *references(stream), with_meta, *references([loaded_copy])],
    )

    run_available_now(spark, config)

    alerts = read_topic(config, config.kafka.alerts_topic)
    assert alert_pairs(alerts) == {
        (str(loose_copy), str(loose)),
        (str(seen_copy), str(seen)),
        (str(listed_copy), str(listed)),
        (str(loaded_copy), "loaded-1"),
    }
    metas = {a["match_id"]: (a.get("match_meta"), a.get("image_meta")) for a in alerts}
    assert metas[str(listed)] == ({"sku": "L-1"}, {"shop": "s1"})
    assert metas["loaded-1"] == ({"sku": "M-2"}, None)
    assert metas[str(loose)] == (None, None)
    by_bank = {a["bank"]: a for a in alerts}
    assert (by_bank["loose"]["distance"], by_bank["loose"]["threshold"]) == (loose_apart, threshold)
    assert tight_apart > 4
    logged = DeltaTable(f"{config.index.path}/matches").to_pyarrow_table().to_pylist()
    assert sorted(row["alert_id"] for row in logged) == sorted(a["alert_id"] for a in alerts)
    assert {row["bank"] for row in logged} == {"loose", "catalogue", None}
    logged_metas = {row["match_id"]: (row["match_meta"], row["image_meta"]) for row in logged}
    assert logged_metas[str(listed)] == ('{"sku":"L-1"}', '{"shop":"s1"}')
    assert logged_metas["loaded-1"] == ('{"sku":"M-2"}', None)
    assert sorted(index_ids(config)) == sorted(
        [
            *(str(p) for p in [stock, tight, loose, *stream, listed, listed_copy, loaded_copy]),
            "loaded-1",
        ]
    )


def test_a_disabled_bank_is_silent_alerts_once_enabled_and_a_removed_member_matches_no_more(
    spark, topics, tmp_path
):
    """Without restarting the stream: each change holds from the next micro-batch."""
    config = fresh(topics, tmp_path)
    member = distinct_images(tmp_path / "known", count=1, seed=85)[0]
    banks = BankTable(config.index.path)
    banks.set("known", enabled=False)
    first, second, third = (near_duplicate(member, edit) for edit in (0, 2, 1))
    query = start_stream(spark, config, StreamOptions.from_config(config, trigger="1s"))
    try:
        produce(
            config, config.kafka.images_topic, [*members([member], "known"), *references([first])]
        )
        wait_for(lambda: str(first) in index_ids(config), 120, "registration of the first copy")
        banks.set("known", enabled=True)
        produce(config, config.kafka.images_topic, references([second]))
        wait_for(lambda: str(second) in index_ids(config), 120, "registration of the second copy")
        # `neardup bank remove known --member ID`: a Delta DELETE the resident lookup follows
        assert open_index(spark, config).remove_members("known", [str(member)]) == 1
        produce(config, config.kafka.images_topic, references([third]))
        wait_for(lambda: str(third) in index_ids(config), 120, "registration of the third copy")
    finally:
        query.stop()
    assert query.exception() is None, query.exception()
    alerts = read_topic(config, config.kafka.alerts_topic)
    assert (str(second), str(member)) in alert_pairs(alerts)
    assert not [a for a in alerts if a["image_id"] == str(first)]
    against_member = {a["image_id"] for a in alerts if a["match_id"] == str(member)}
    assert against_member == {str(second)}
    assert str(member) not in index_ids(config)


def test_bank_commands_list_show_and_set(topics, tmp_path):
    """`neardup bank` without a JVM: each change one commit of the banks table."""
    config = fresh(topics, tmp_path)

    def neardup(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            neardup_command(config, "bank", *args), capture_output=True, text=True, timeout=300
        )

    assert neardup("set", "logos", "--kind", "allow", "--labels", "brand,logos").returncode == 0
    assert neardup("set", "logos", "--threshold", "4", "--disable").returncode == 0
    too_far = neardup("set", "logos", "--threshold", str(config.hashing.threshold + 1))
    assert too_far.returncode == 2 and "hashing.threshold" in too_far.stderr
    listed = neardup("list", "--json")
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {k: v for k, v in row.items() if k != "changed_at"} == {
        "name": "logos",
        "kind": "allow",
        "enabled": False,
        "threshold": 4,
        "labels": ["brand", "logos"],
        "members": 0,
    }
    assert json.loads(neardup("show", "logos").stdout)["threshold"] == 4
    assert neardup("show", "nothing").returncode == 2
    assert DeltaTable(f"{config.index.path}/banks").version() == 1  # created, then one change


@pytest.mark.slow
def test_the_match_log_holds_each_alert_once_after_kill_9(topics, tmp_path):
    """The driver killed between the images and matches commits and after both, restarted from
    its checkpoint each time: `matches` ends with exactly the alerts' rows."""
    paths = planted_stream(tmp_path / "images", count=16, seed=86, group_every=4)
    config = fresh(topics, tmp_path)
    produce(config, config.kafka.images_topic, references(paths))
    command = neardup_command(
        config,
        *("stream", "--available-now", "--checkpoint", config.stream.checkpoint),
        *("--max-offsets-per-trigger", "4"),
    )
    for point in ("after_register:1", "after_matches:2"):
        with (tmp_path / f"{point}.log").open("wb") as log:
            crashed = subprocess.run(
                command, env={**os.environ, "NEARDUP_CRASH_AT": point}, stdout=log, stderr=log
            )
        assert crashed.returncode == -signal.SIGKILL, point
    final = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-3000:]

    alerts = read_topic(config, config.kafka.alerts_topic)
    assert alert_pairs(alerts) == expected_alerts(paths, config)
    logged = subprocess.run(
        neardup_command(config, "matches", "--json"), capture_output=True, text=True, timeout=300
    )
    rows = [json.loads(line) for line in logged.stdout.splitlines()]
    assert Counter(row["alert_id"] for row in rows) == Counter({a["alert_id"] for a in alerts})
    by_id = {a["alert_id"]: a for a in alerts}
    for row in rows:
        alert = by_id[row["alert_id"]]
        assert (row["image_id"], row["match_id"], row["distance"]) == (
            alert["image_id"],
            alert["match_id"],
            alert["distance"],
        )
        assert (row["image_partition"], row["image_offset"]) == (
            alert["image_source"]["partition"],
            alert["image_source"]["offset"],
        )
        assert row["match_offset"] == alert["match_source"]["offset"]


def test_the_matches_command_filters_by_bank_and_time(topics, tmp_path):
    """`neardup matches` reads the log without a JVM, oldest first, filtered."""
    config = fresh(topics, tmp_path)
    start = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    rows = [
        {
            **dict.fromkeys(arrow_schema("matches").names),
            "alert_id": f"{n:032x}",
            "image_id": f"image-{n}",
            "match_id": f"match-{n}",
            "hash_type": "phash",
            "bank": "stock" if n % 2 else None,
            "distance": n,
            "threshold": 10,
            "distances": json.dumps({"phash": n}),
            "detected_at": start + timedelta(minutes=n),
            "written_by": "neardup-stream-test",
            "batch_id": n,
        }
        for n in reversed(range(4))
    ]
    write_deltalake(
        f"{config.index.path}/matches", pa.Table.from_pylist(rows, schema=arrow_schema("matches"))
    )

    def matches(*args: str) -> list[str]:
        done = subprocess.run(
            neardup_command(config, "matches", *args), capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    assert [json.loads(line)["image_id"] for line in matches("--json")] == [
        f"image-{n}" for n in range(4)
    ]
    assert [line.split()[2] for line in matches("--bank", "stock")] == ["image-1", "image-3"]
    assert [line.split()[2] for line in matches("--since", "2026-11-30T10:02")] == [
        "image-2",
        "image-3",
    ]
