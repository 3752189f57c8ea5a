"""The review page at scale: a page of 50 pairs over 100k alerts, and its thumbnails cold and warm.

    python -m bench.review --alerts 100000 --repeat 7

Generated alerts (distances, banks, detection times spread over 30 days) between the sample photos,
and a decisions table of a few hundred decisions, behind the real app on a real socket. One JSON
line per (alerts, request): the median seconds of `repeat` requests of the whole page over HTTP
(filters, decision states, Jinja), against the same request over 1,000 alerts measured in the same
run; then a page's 100 thumbnails fetched cold (decoded through the sources layer) and warm (the
in-memory cache), against one another.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from streaming.config import load_config
from streaming.index.decisions import Decision, DecisionLog
from streaming.review.alerts import alert_frame, alert_row
from streaming.review.app import alerts_app
from streaming.review.serve import serving
from streaming.samples import write_samples

BANKS = ("stock", "known-bad", "catalogue")
_SIDES = ("image", "match")
REQUESTS = {
    "first page": "/",
    "page 1000": "/?state=any&page=1000",
    "filtered": "/?bank=stock&min_distance=2&max_distance=6&since=2026-11-10T00:00&state=any",
}


class GeneratedAlerts:
    """Alerts made here, standing in for the topic or the matches table."""

    def __init__(self, rows: list[dict]) -> None:
        self.description = f"{len(rows)} generated alerts"
        self._frame = alert_frame(rows)

    def frame(self) -> pd.DataFrame:
        return self._frame

    def close(self) -> None:
        pass


def generated(count: int, photos: list[Path], seed: int) -> list[dict]:
    """`count` alerts as the topic gives them, parsed by the page's own alert_row."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    sides = rng.integers(0, len(photos), (count, 2))
    matched = rng.integers(0, count, count)
    distances = rng.integers(0, 11, count)
    seconds = rng.integers(0, 30 * 86400, count)
    rows = []
    for i in range(count):
        stamp = (start + timedelta(seconds=int(seconds[i]))).isoformat()
        alert = {
            "alert_id": f"{i:032x}",
            "image_id": f"img-{i}",
            "match_id": f"img-{matched[i]}",
            "bank": None if i % 4 else BANKS[i % 3],
            "hash_type": "phash",
            "distance": int(distances[i]),
            "transform": "identity",
            "threshold": 10,
            "distances": {"phash": int(distances[i]), "dhash": 3},
            "image_uri": str(photos[sides[i, 0]]),
            "match_uri": str(photos[sides[i, 1]]),
            "image_source": {"topic": "images", "partition": 0, "offset": i, "timestamp": stamp},
            "match_source": None,
            "image_meta": {"shop": f"s{i % 97}"},
            "detected_at": stamp,
        }
        rows.append(alert_row(alert))
    return rows


def median_seconds(url: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--decisions", type=int, default=200)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-review-"))
    photos = [*write_samples(folder / "photos", variants_of=0).originals]
    config = load_config(
        overrides={"sources.allowed_roots": [str(folder)], "index.path": str(folder / "index")},
        environ={},
    )
    decisions = DecisionLog(str(folder / "index" / "decisions"))
    for i in range(args.decisions):
        verdict = "not_duplicate" if i % 2 else "duplicate"
        decisions.append(Decision(f"img-{i}", f"img-{i + 1}", verdict, "bench"))

    baseline: dict[str, float] = {}
    for count in (args.baseline, args.alerts):
        started = time.perf_counter()
        source = GeneratedAlerts(generated(count, photos, seed=count))
        load = time.perf_counter() - started
        with serving(alerts_app(config, source, decisions, token=None)) as url:
            urllib.request.urlopen(url + "/").read()  # the first request reads the decisions
            for name, path in REQUESTS.items():
                seconds = median_seconds(url + path, args.repeat)
                baseline.setdefault(name, seconds)
                line = {
                    "bench": "review.page",
                    "alerts": count,
                    "request": name,
                    "seconds": round(seconds, 4),
                    "vs_baseline": round(seconds / baseline[name], 2),
                    "baseline_alerts": args.baseline,
                    "frame_build_seconds": round(load, 3),
                }
                print(json.dumps(line), flush=True)
            if count == args.alerts:
                thumbnails(url, source, args.alerts)


def thumbnails(url: str, source: GeneratedAlerts, count: int) -> None:
    """The first page's 100 thumbnails, cold then warm (the sample photos repeat across alerts, so
    a cold run decodes each distinct photo once)."""
    page = source.frame().head(50)
    paths = [f"/thumb/{alert_id}/{side}" for alert_id in page["alert_id"] for side in _SIDES]
    seconds = {}
    for run in ("cold", "warm"):
        started = time.perf_counter()
        for path in paths:
            with urllib.request.urlopen(url + path, timeout=60) as response:
                response.read()
        seconds[run] = time.perf_counter() - started
    line = {
        "bench": "review.thumbnails",
        "alerts": count,
        "thumbnails": len(paths),
        "distinct_photos": len(set(page["image_uri"]) | set(page["match_uri"])),
        "cold_seconds": round(seconds["cold"], 3),
        "warm_seconds": round(seconds["warm"], 3),
        "cold_vs_warm": round(seconds["cold"] / seconds["warm"], 1),
    }
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
