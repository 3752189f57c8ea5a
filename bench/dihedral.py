"""What dihedral and crop matching cost: hashing with the 8 variants or the crops, and looking
them up.

    python -m bench.dihedral --images 40 --index 100000 --queries 1000
    python -m bench.dihedral --images 40 --index 400 --queries 100    # a stream's young index

Hashing: the stream's default types (phash, dhash) on 2-4 MP JPEGs (bench.photos), one process,
without and with HashSpec.dihedral, and with HashSpec.crops = CROPS of phash (what the stream
hashes with hashing.crops), the median of 3 runs each.
Lookup: SortedBands (the resident lookup's search) of `index` pHash-like hashes at threshold 10,
banded as HashIndex plans them (for `--plan-size` images, 10M by default, whatever the index holds),
queried by `queries` hashes alone, by their 8 variants (what the stream does: the index keeps one
hash per image), by one hash against an index that keeps the 8 variants of each image instead,
by one hash against an index that keeps each image's crops too, and by the hash and its crops
against that index (what hashing.crops does).
One JSON line per figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from bench.match import synthetic
from bench.photos import jpeg_corpus
from streaming.hashing import HashSpec, hash_images
from streaming.index.bands import plan_bands
from streaming.index.sorted_bands import SortedBands

THRESHOLD = 10
CROPS = (0.1, 0.2)


def median_seconds(run: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def hashing(images: int) -> None:
    blobs = [path.read_bytes() for path in jpeg_corpus(images)]
    plain = HashSpec(types=("phash", "dhash"))
    turned = HashSpec(types=("phash", "dhash"), dihedral=True)
    cropped = HashSpec(types=("phash", "dhash"), crops=CROPS, crop_types=("phash",))  # the stream's
    base = median_seconds(lambda: hash_images(blobs, plain))
    with_variants = median_seconds(lambda: hash_images(blobs, turned))
    with_crops = median_seconds(lambda: hash_images(blobs, cropped))
    print(
        json.dumps(
            {
                "figure": "hashing",
                "images": images,
                "plain_s": round(base, 3),
                "dihedral_s": round(with_variants, 3),
                "ratio": round(with_variants / base, 3),
                "crops": list(CROPS),
                "crops_s": round(with_crops, 3),
                "crops_ratio": round(with_crops / base, 3),
            }
        )
    )


def lookup(size: int, queries: int, plan_size: int) -> None:
    # one-word pHash-like hashes (bench.match's "correlated"), as vectors
    stored, planted = (h[:, 0] for h in synthetic(size, queries, "correlated", 1, THRESHOLD, 1)[:2])
    rng = np.random.default_rng(2)
    # 7 unrelated variants per query: what the other dihedral hashes of a photo look like
    variants = rng.integers(0, 2**63, (queries, 8), dtype=np.int64).view(np.uint64)
    variants[:, 0] = planted
    ids = [str(i) for i in range(size)]

    def bands(words: np.ndarray, names: list[str]) -> SortedBands:
        index = SortedBands(plan_bands(64, THRESHOLD, plan_size))
        index.add(names, words.reshape(-1, 1))
        return index

    one = bands(stored, ids)
    alone = median_seconds(lambda: one.search(planted.reshape(-1, 1), THRESHOLD))
    probed = median_seconds(lambda: one.search(variants.reshape(-1, 1), THRESHOLD))
    # the other way round: each image indexed under its 8 variants, probed by one hash
    stored_variants = np.concatenate(
        [stored, rng.integers(0, 2**63, size * 7, dtype=np.int64).view(np.uint64)]
    )
    eight = bands(stored_variants, ids * 8)
    indexed = median_seconds(lambda: eight.search(planted.reshape(-1, 1), THRESHOLD))
    # hashing.crops: each image indexed with its crops too, probed by one hash
    entries = 1 + len(CROPS)
    stored_crops = np.concatenate(
        [stored, rng.integers(0, 2**63, size * len(CROPS), dtype=np.int64).view(np.uint64)]
    )
    with_crops = bands(stored_crops, ids * entries)
    cropped = median_seconds(lambda: with_crops.search(planted.reshape(-1, 1), THRESHOLD))
    # ... and probed by each query's crops too (what the stream does)
    crop_probes = np.concatenate(
        [planted, rng.integers(0, 2**63, queries * len(CROPS), dtype=np.int64).view(np.uint64)]
    )
    both = median_seconds(lambda: with_crops.search(crop_probes.reshape(-1, 1), THRESHOLD))
    print(
        json.dumps(
            {
                "figure": "lookup",
                "index": size,
                "queries": queries,
                "plain_s": round(alone, 4),
                "query_variants_s": round(probed, 4),
                "ratio": round(probed / alone, 2),
                "index_variants_s": round(indexed, 4),
                "index_variants_ratio": round(indexed / alone, 2),
                "index_variants_memory": 8,
                "index_crops_s": round(cropped, 4),
                "index_crops_ratio": round(cropped / alone, 2),
                "index_crops_memory": entries,
                "crops_probed_s": round(both, 4),
                "crops_probed_ratio": round(both / alone, 2),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--index", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument(
        "--plan-size", type=int, default=10_000_000, help="the index size the bands are planned for"
    )
    args = parser.parse_args()
    hashing(args.images)
    lookup(args.index, args.queries, args.plan_size)


if __name__ == "__main__":
    main()
