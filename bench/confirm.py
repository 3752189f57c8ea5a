"""Confirmation by a second hash (hashing.confirm): precision and recall with and without.

    make bench && python -m bench.confirm [--every N]

bench.robustness's corpus, each photo with its everyday edits (EDITS), hashed plainly (no dihedral
variants, no crops, no unletterboxing). Positives: each edited image against its own photo;
negatives: every pair of images of different photos, each pair once. Pairs of two edits of one photo
are neither. Each decision is the rule the stream applies (index/rule.match_rule, which
hashing.rule and hashing.confirm compile to): phash at a threshold alone, then with a confirming
dhash or PDQ bound. Precision is over the corpus's own mix of positives and negatives, stated with
the figures. Prints JSON lines; writes its section at the end of docs/robustness.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from bench.robustness import DOCS, EDITS, MAX_FPR, corpus, edited, hash_corpus, threshold_at
from streaming.config import PROJECT_ROOT, load_config
from streaming.hashing import HashSpec
from streaming.index.rule import Rule, match_rule

TYPES = ("phash", "dhash", "pdq")
PRIMARY = "phash"
# The confirming bounds measured (PDQ's published match threshold is 31 of its 256 bits).
CONFIRMS = {"dhash": (8, 10, 12, 16, 20), "pdq": (31, 50, 70, 90)}
HEADING = "## Confirmation by a second hash"


@dataclass(frozen=True)
class Pairs:
    """Distances of the labelled pairs, per hash type, and which pairs are positives."""

    apart: dict[str, np.ndarray]
    positive: np.ndarray
    edit: np.ndarray  # a positive's edit ("" for a negative)


def labelled_pairs(words: Mapping[str, np.ndarray], keys: list[tuple[str, str]]) -> Pairs:
    """Every (edited, its original) pair and every pair of images of different photos."""
    row = {key: i for i, key in enumerate(keys)}
    photo = np.array([key[0] for key in keys])
    count = len(keys)
    left, right = np.triu_indices(count, k=1)
    different = photo[left] != photo[right]
    edits = [(i, row[name, "original"], edit) for i, (name, edit) in enumerate(keys)]
    edits = [e for e in edits if e[2] != "original"]
    first = np.concatenate([left[different], [i for i, _, _ in edits]]).astype(np.int64)
    second = np.concatenate([right[different], [j for _, j, _ in edits]]).astype(np.int64)
    apart = {
        t: np.bitwise_count(w[first] ^ w[second]).sum(axis=1).astype(np.int64)
        for t, w in words.items()
    }
    negatives = int(different.sum())
    return Pairs(
        apart,
        np.arange(len(first)) >= negatives,
        np.array([""] * negatives + [e for _, _, e in edits]),
    )


def figures(rule: Rule, pairs: Pairs, distances: list[dict[str, int]]) -> dict:
    """The counts and rates of the pairs `rule` accepts, decided by Rule.accepts as the stream
    decides (`distances`: each pair's, in the order of `pairs`)."""
    found = np.array([rule.accepts(apart) for apart in distances])
    true = int((found & pairs.positive).sum())
    false = int((found & ~pairs.positive).sum())
    missed = pairs.edit[pairs.positive & ~found]
    edits, counts = np.unique(missed, return_counts=True)
    return {
        "rule": str(rule),
        "true": true,
        "false": false,
        "precision": true / max(1, true + false),
        "recall": true / max(1, int(pairs.positive.sum())),
        "fpr": false / max(1, int((~pairs.positive).sum())),
        "missed": dict(zip(edits.tolist(), counts.tolist(), strict=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=1, help="every Nth photo only")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    photos = dict(list(corpus().items())[:: args.every])
    hashed = hash_corpus(edited(photos), HashSpec(types=TYPES))
    words = {t: hashed.turned[t][:, 0] for t in TYPES}
    pairs = labelled_pairs(words, hashed.keys)
    seconds = time.perf_counter() - started
    print(json.dumps({"step": "hashed", "images": len(hashed.keys), "seconds": round(seconds)}))

    default = load_config(environ={}).hashing.threshold
    at_fpr = threshold_at(pairs.apart[PRIMARY][~pairs.positive], 64)
    columns = [d.tolist() for d in pairs.apart.values()]
    distances = [dict(zip(pairs.apart, d, strict=True)) for d in zip(*columns, strict=True)]
    rows = []
    for threshold in sorted({default, at_fpr}):
        for confirm in [{}, *({t: b} for t, bounds in CONFIRMS.items() for b in bounds)]:
            # "phash <= t" alone decides as the threshold alone
            rule = match_rule([f"{PRIMARY} <= {threshold}"], confirm, PRIMARY, threshold)
            assert rule is not None
            rows.append({"threshold": threshold, **figures(rule, pairs, distances)})
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "missed"}), flush=True)
    # phash alone at every threshold between: what tightening the primary gives instead
    alone = [
        {"threshold": t, **figures(Rule.parse(f"{PRIMARY} <= {t}", PRIMARY), pairs, distances)}
        for t in range(min(default, at_fpr), max(default, at_fpr) + 1)
    ]
    sample = (len(photos), len(hashed.keys), args.every)
    write_section(rows, alone, pairs, sample, (default, at_fpr), load)


def write_section(
    rows: list[dict],
    alone: list[dict],
    pairs: Pairs,
    sample: tuple[int, int, int],
    thresholds: tuple[int, int],
    load: float,
) -> None:
    """This run's section at the end of docs/robustness.md (`sample`: photos, images, --every;
    `thresholds`: conf/local.toml's and the one at MAX_FPR)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True
    ).stdout.strip()
    photo_count, image_count, every = sample
    positives, negatives = int(pairs.positive.sum()), int((~pairs.positive).sum())
    default, at_fpr = thresholds
    lines = [
        HEADING,
        "",
        f"Command: `python -m bench.confirm --every {every}` (writes this section); "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit},",
        f"load average {load:.1f} at the start (a shared machine: the figures are counts, not "
        "timings).",
        "",
        f"{photo_count} of the photos above (every {every}th), each with its {len(EDITS)} everyday "
        f"edits: {image_count} images,",
        "hashed plainly (no dihedral variants, crops or unletterboxing). Positives: each edited "
        f"image against its own photo ({positives} pairs);",
        f"negatives: every pair of images of different photos ({negatives} pairs, each once): 1 "
        f"positive to {negatives / max(1, positives):.0f} negatives,",
        "the mix precision depends on. Each row is the rule the stream applies (`hashing.confirm` "
        "compiled by index/rule.match_rule,",
        f"decided by Rule.accepts), phash at conf/local.toml's threshold ({default}) and at the "
        f"largest threshold within an FPR of {MAX_FPR:.1%} on these pairs ({at_fpr}).",
        "",
        "| decision | positives found | recall | false positives | FPR | precision | "
        "positives lost to the confirmation, by edit |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        plain = next(r for r in rows if r["threshold"] == row["threshold"])
        lost = {e: n - plain["missed"].get(e, 0) for e, n in row["missed"].items()}
        shown = ", ".join(f"{e} {n}" for e, n in sorted(lost.items(), key=lambda x: -x[1]) if n)
        lines.append(f"{_cells(row, positives, negatives)} {shown or '-'} |")
    lines += [
        "",
        "phash alone at each threshold in between (tightening the primary instead):",
        "",
        "| decision | positives found | recall | false positives | FPR | precision |",
        "|---|---|---|---|---|---|",
        *(_cells(row, positives, negatives) for row in alone),
        "",
    ]
    path = DOCS / "robustness.md"
    text = path.read_text()
    if HEADING in text:  # a former run's section is replaced
        start = text.index(HEADING)
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + (text[end + 1 :] if end >= 0 else "")
    path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines))


def _cells(row: dict, positives: int, negatives: int) -> str:
    return (
        f"| {row['rule']} | {row['true']} / {positives} | {row['recall']:.1%} | "
        f"{row['false']} / {negatives} | {row['fpr']:.3%} | {row['precision']:.1%} |"
    )


if __name__ == "__main__":
    main()
