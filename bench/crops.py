"""What probing with the query's own crops adds to indexing each image's crops: the reverse order.

    python -m bench.crops --every 4

Indexed crops alone (each image's central crops stored beside its hash, the query's hash probing)
find a crop streamed after its photo, not the photo after its crop; the stream (index/crops.py)
also probes with the query's own crops, which finds the reverse order. On bench.robustness's
corpus and edits (phash, crops 10 % and 20 %, every `every`-th photo), for both schemes: the
threshold at FPR <= 0.1 % on pairs of different photos (every edited version of one against every
edited version of another), the FPR at conf/local.toml's threshold 10, and the recall of each crop
edit in both orders and of all edits (edited image after its photo) at each scheme's threshold.
One JSON line per scheme.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from bench.robustness import CROP_SHARES, EDITS, MAX_FPR, corpus, edited, hash_corpus
from streaming.hashing import HashSpec

CONFIGURED = 10  # conf/local.toml's hashing.threshold


def distances(query: np.ndarray, index: np.ndarray, both: bool) -> np.ndarray:
    """queries x indexed smallest phash distance: the query's hash against the indexed hash and
    its crops, and with `both` the query's crops against the indexed hash too. query, index: n x
    (1 + crops) one-word hashes."""
    ways = [(0, m) for m in range(index.shape[1])]
    ways += [(k, 0) for k in range(1, query.shape[1])] if both else []
    return np.min(
        [np.bitwise_count(query[:, None, k] ^ index[None, :, m]) for k, m in ways], axis=0
    )


def recall_of(
    apart: np.ndarray, keys: list[tuple[str, str]], edit: str, reverse: bool, threshold: int
) -> float:
    """The share of (edited, photo) pairs within threshold: the edited image the query (after its
    photo), or with `reverse` the photo the query (after its edited version)."""
    row = {k: i for i, k in enumerate(keys)}
    pairs = [(row[k], row[k[0], "original"]) for k in keys if k[1] == edit]
    found = [apart[o, e] if reverse else apart[e, o] for e, o in pairs]
    return round(float(np.mean(np.array(found) <= threshold)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=4, help="every Nth photo")
    args = parser.parse_args()
    photos = dict(list(corpus().items())[:: args.every])
    encoded = edited(photos)
    hashed = hash_corpus(encoded, HashSpec(types=("phash",), crops=CROP_SHARES))
    cropped = hashed.cropped["phash"][:, :, 0]  # n x 3: the hash, then its crops
    photo, keys = hashed.photo, hashed.keys
    different = photo[:, None] != photo[None, :]
    for both in (False, True):
        apart = distances(cropped, cropped, both)
        negatives = apart[different]
        threshold = max(t for t in range(64) if np.mean(negatives <= t) <= MAX_FPR)
        orders = {"after": False, "reverse": True}
        print(
            json.dumps(
                {
                    "scheme": "index and query crops (the stream)" if both else "index crops alone",
                    "photos": len(photos),
                    "images": len(keys),
                    "threshold_at_fpr_0.1%": threshold,
                    "fpr_at_threshold": round(float(np.mean(negatives <= threshold)), 5),
                    "fpr_at_10": round(float(np.mean(negatives <= CONFIGURED)), 7),
                    **{
                        f"{edit}_{order}{suffix}": recall_of(apart, keys, edit, reverse, at)
                        for suffix, at in (("_at_10", CONFIGURED), ("", threshold))
                        for edit in ("crop10", "crop20")
                        for order, reverse in orders.items()
                    },
                    "mean_recall": round(
                        float(
                            np.mean([recall_of(apart, keys, e, False, threshold) for e in EDITS])
                        ),
                        3,
                    ),
                }
            )
        )


if __name__ == "__main__":
    main()
