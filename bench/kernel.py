"""The compiled kernel's cost, without Spark: SortedBands searched in one process on one core, per
index size and band plan, and the constants of its cost model fitted to them.

    python -m bench.kernel --sizes 1000000,10000000,50000000 --queries 1000
    python -m bench.kernel --sizes 10000000 --hash pdq      # 256-bit, threshold 31

For each n: n uniform 64-bit hashes (or 256-bit at threshold 31) in one segment (as a shard holds
them after its merges), and `queries` queries planted at distance 0..threshold from stored hashes.
Each plan of the same bands searches the same segment (the radii change the probes, not what is
stored): the plan chosen (plan_bands), the even radii of before (threshold // bands each: 3, 3, 3
at 64 bits), and the spread chosen for a small index when it cuts as many bands (2, 3, 3). One JSON
line per (n, plan): seconds per 1000 queries (best of `repeats`), probes and candidates per query
(candidates: stored entries the kernel walks, those of each probe's bucket), and whether the pairs
equal the even plan's. A last line fits seconds = t_probe x probes + t_candidate x candidates
(least squares, per n and over all rows), the constants of docs/matching.md's model.
"""

from __future__ import annotations

import bench.one_thread  # noqa: F401  (before numpy)

# isort: split

import argparse
import json
import time

import numpy as np
import pyarrow as pa

from bench.match import HASHES, synthetic
from streaming.index.bands import BandPlan, even, plan_bands, spread
from streaming.index.sorted_bands import Segment, SortedBands, band_values


def walked(plan: BandPlan, segment: Segment, queries: np.ndarray) -> int:
    """Stored entries the kernel reads for these queries: every entry of each probe's bucket."""
    total = 0
    for band, values in enumerate(band_values(plan, queries)):
        probes = values[:, None] ^ np.array(plan.masks(band), np.uint64)[None, :]
        drop = np.uint64(plan.layout[band].width - segment.prefix_bits[band])
        buckets = (probes >> drop).astype(np.int64)
        starts = segment.starts[band]
        total += int((starts[buckets + 1] - starts[buckets]).sum())
    return total


def timed(
    bands: SortedBands, queries: np.ndarray, threshold: int, repeats: int
) -> tuple[float, set]:
    """(best seconds, (query row, stored row, distance) pairs) of the kernel's search of all
    queries at once."""
    best, found = float("inf"), []
    for _ in range(repeats):
        started = time.perf_counter()
        found = list(bands.matches(queries, threshold))
        best = min(best, time.perf_counter() - started)
    return best, {
        triple for _, *arrays in found for triple in zip(*(a.tolist() for a in arrays), strict=True)
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hash", default="phash", choices=sorted(HASHES))
    args = parser.parse_args()
    threshold = HASHES[args.hash][1]
    words = 4 if args.hash == "pdq" else 1
    rows = []
    for n in (int(size) for size in args.sizes.split(",")):
        stored, queries, _ = synthetic(n, args.queries, "uniform", words, threshold, seed=n)
        chosen = plan_bands(64 * words, threshold, n)
        plans = {"even": even(chosen.bits, threshold, chosen.bands), "chosen": chosen}
        other = spread(chosen.bits, threshold, chosen.bands, 1000)
        if other != chosen:
            plans["other"] = other
        # integer ids: the kernel never reads them, and 50M strings cost gigabytes
        segment = Segment.build(chosen, pa.array(np.arange(n)), stored)
        SortedBands.of(chosen, [segment]).search(queries[:1], threshold)  # compile or load
        baseline: set = set()
        for name, plan in plans.items():
            bands = SortedBands.of(plan, [segment])
            seconds, found = timed(bands, queries, threshold, args.repeats)
            baseline = baseline or found
            row = {
                "n": n,
                "hash": args.hash,
                "plan": name,
                "radii": list(plan.radii),
                "seconds_per_1000_queries": round(seconds * 1000 / len(queries), 4),
                "probes_per_query": plan.probes_per_query(),
                "candidates_per_query": round(walked(plan, segment, queries) / len(queries), 1),
                "same_pairs_as_even": found == baseline,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        del segment, stored
    print(json.dumps(fit(rows)), flush=True)


def fit(rows: list[dict]) -> dict:
    """Seconds per query = t_probe x probes + t_candidate x candidates, least squares over the
    rows of each n and over all rows."""
    fitted: dict[str, object] = {
        "fit": "seconds per query = t_probe x probes + t_candidate x candidates"
    }
    for n in [*sorted({r["n"] for r in rows}), "all"]:
        some = [r for r in rows if n in (r["n"], "all")]
        design = np.array([[r["probes_per_query"], r["candidates_per_query"]] for r in some])
        seconds = np.array([r["seconds_per_1000_queries"] / 1000 for r in some])
        (probe, candidate), *_ = np.linalg.lstsq(design, seconds, rcond=None)
        error = np.max(np.abs(design @ np.array([probe, candidate]) / seconds - 1))
        fitted[str(n)] = {
            "t_probe_ns": round(probe * 1e9, 2),
            "t_candidate_ns": round(candidate * 1e9, 2),
            "worst_relative_error": round(float(error), 3),
        }
    return fitted


if __name__ == "__main__":
    main()
