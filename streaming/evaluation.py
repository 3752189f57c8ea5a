"""How well each hash separates a labelled sample of the user's own images: `neardup evaluate`.

Every pair of labelled images is a positive when both are of one group, else a negative. For each
hash type and threshold: precision, recall, F1 and the false-positive rate; per type the average
precision of the pairs ranked by distance, the mean over images of each image's own average
precision (imagededup's mAP), and the recall at the largest threshold whose false-positive rate
stays within a goal. Rules "p <= a or (p <= b and s <= c)" over two hashes are swept the same way,
from the 2-D histogram of the pairs' distances. Pure numpy over hashes; the CLI hashes in-process.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streaming.errors import ConfigError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}


def truth_from_csv(folder: Path, csv_path: Path) -> dict[Path, str]:
    """path -> group from a CSV of `path,group` rows (a header row is skipped), paths relative to
    `folder` unless absolute."""
    try:
        with csv_path.open(newline="") as f:
            rows = [row for row in csv.reader(f) if row]
    except OSError as e:
        raise ConfigError(f"--truth {csv_path}: {e.strerror}") from None
    if rows and rows[0][:2] == ["path", "group"]:
        rows = rows[1:]
    truth = {}
    for number, row in enumerate(rows, 1):
        if len(row) < 2:
            raise ConfigError(f"--truth {csv_path}: row {number} is not `path,group`: {row}")
        path = folder / row[0].strip()
        if not path.is_file():
            raise ConfigError(f"--truth {csv_path}: row {number}: no file {path}")
        truth[path] = row[1].strip()
    return truth


def truth_from_folders(folder: Path) -> dict[Path, str]:
    """Each image's group is the folder it sits in; an image directly in `folder` is alone."""
    return {
        path: str(path.parent.relative_to(folder)) if path.parent != folder else f"/{path.name}"
        for path in sorted(folder.rglob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    }


@dataclass(frozen=True)
class Curve:
    """Per threshold t (index): counts of positive and negative pairs within t."""

    hash_type: str
    true: np.ndarray
    false: np.ndarray
    positives: int
    negatives: int
    average_precision: float
    mean_average_precision: float

    def precision(self) -> np.ndarray:
        return self.true / np.maximum(1, self.true + self.false)

    def recall(self) -> np.ndarray:
        return self.true / max(1, self.positives)

    def fpr(self) -> np.ndarray:
        return self.false / max(1, self.negatives)

    def f1(self) -> np.ndarray:
        p, r = self.precision(), self.recall()
        return np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)

    def threshold_at(self, max_fpr: float) -> int:
        """The largest threshold within max_fpr (-1: none)."""
        within = np.flatnonzero(self.fpr() <= max_fpr)
        return int(within[-1]) if len(within) else -1


def pair_distances(words: np.ndarray, crops: np.ndarray | None = None) -> np.ndarray:
    """n x K x words uint64 (K variants, the first the hash itself) -> n x n distances: the smallest
    between one image's variants and the other's hash, either way round. With `crops` (n x C x
    words: each image's central crops, as the index holds them, hashing.crops) also between one
    image's own hash and the other's crops, either way round (so an image's crops probe too), as
    the stream matches (index/variants.near_probes: a crop meets an image's own hash alone)."""
    identity = words[:, 0]
    apart = np.bitwise_count(words[:, None, :, :] ^ identity[None, :, None, :]).sum(axis=3)
    smallest = apart.min(axis=2)
    if crops is not None and crops.shape[1]:
        cropped = np.bitwise_count(identity[:, None, None, :] ^ crops[None, :, :, :]).sum(axis=3)
        smallest = np.minimum(smallest, cropped.min(axis=2))
    return np.minimum(smallest, smallest.T)


def curve(hash_type: str, distances: np.ndarray, groups: Sequence[str], bits: int) -> Curve:
    labels = np.array(groups)
    same = labels[:, None] == labels[None, :]
    upper = np.triu_indices(len(labels), k=1)
    d, positive = distances[upper], same[upper]
    true = np.cumsum(np.bincount(d[positive], minlength=bits + 1))
    false = np.cumsum(np.bincount(d[~positive], minlength=bits + 1))
    return Curve(
        hash_type,
        true,
        false,
        int(positive.sum()),
        int((~positive).sum()),
        _average_precision(true, false),
        _mean_average_precision(distances, same, bits),
    )


def _average_precision(true: np.ndarray, false: np.ndarray) -> float:
    """Area under the step precision-recall curve, ties taken together at each threshold."""
    if true[-1] == 0:
        return 0.0
    recall = true / true[-1]
    precision = true / np.maximum(1, true + false)
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def _mean_average_precision(distances: np.ndarray, same: np.ndarray, bits: int) -> float:
    """The mean over images that have a duplicate of the average precision of their own ranking."""
    scores = []
    for row in range(len(distances)):
        others = np.arange(len(distances)) != row
        positive = same[row, others]
        if positive.any():
            d = distances[row, others]
            true = np.cumsum(np.bincount(d[positive], minlength=bits + 1))
            false = np.cumsum(np.bincount(d[~positive], minlength=bits + 1))
            scores.append(_average_precision(true, false))
    return float(np.mean(scores)) if scores else 0.0


@dataclass(frozen=True)
class RuleResult:
    primary: str
    secondary: str
    bounds: tuple[int, int, int]  # p <= a or (p <= b and s <= c)
    recall: float
    fpr: float

    def text(self) -> str:
        a, b, c = self.bounds
        p, s = self.primary, self.secondary
        return f"{p} <= {a} or ({p} <= {b} and {s} <= {c})"


def best_rules(
    distances: Mapping[str, np.ndarray], groups: Sequence[str], max_fpr: float, max_bound: int = 32
) -> list[RuleResult]:
    """For each ordered pair of 64-bit hash types, the rule of the highest recall within max_fpr."""
    labels = np.array(groups)
    upper = np.triu_indices(len(labels), k=1)
    positive = (labels[:, None] == labels[None, :])[upper]
    results = []
    for p, s in itertools.permutations(distances, 2):
        dp, ds = distances[p][upper], distances[s][upper]
        if max(dp.max(initial=0), ds.max(initial=0)) > 64:
            continue
        cumulative = {}
        for name, mask in (("true", positive), ("false", ~positive)):
            grid = np.zeros((65, 65), np.int64)
            np.add.at(grid, (dp[mask], ds[mask]), 1)
            cumulative[name] = grid.cumsum(axis=1).cumsum(axis=0)  # [p, s]: pairs with <= both
        totals = {"true": max(1, int(positive.sum())), "false": max(1, int((~positive).sum()))}
        best = None
        for a, b in itertools.combinations_with_replacement(range(max_bound + 1), 2):
            for c in range(65):
                fpr = _rule_rate(cumulative["false"], a, b, c) / totals["false"]
                if fpr > max_fpr:
                    break
                recall = _rule_rate(cumulative["true"], a, b, c) / totals["true"]
                if best is None or recall > best.recall:
                    best = RuleResult(p, s, (a, b, c), float(recall), float(fpr))
        if best is not None:
            results.append(best)
    return sorted(results, key=lambda r: -r.recall)


def _rule_rate(cumulative: np.ndarray, a: int, b: int, c: int) -> int:
    """Pairs with p <= a, or a < p <= b and s <= c, from counts of pairs with p and s within."""
    return int(cumulative[a, 64] + cumulative[b, c] - cumulative[a, c])


def markdown(curves: Sequence[Curve], rules: Sequence[RuleResult], max_fpr: float) -> str:
    lines = [
        f"| hash | pairs (+/-) | AP | mAP | threshold at FPR <= {max_fpr:.2%} | precision | "
        "recall | F1 | best-F1 threshold | its F1 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in curves:
        t = c.threshold_at(max_fpr)
        best = int(np.argmax(c.f1()))
        at = (
            f"{t} | {c.precision()[t]:.3f} | {c.recall()[t]:.3f} | {c.f1()[t]:.3f}"
            if t >= 0
            else "none | - | - | -"
        )
        lines.append(
            f"| {c.hash_type} | {c.positives}/{c.negatives} | {c.average_precision:.3f} | "
            f"{c.mean_average_precision:.3f} | {at} | {best} | {c.f1()[best]:.3f} |"
        )
    if rules:
        lines += [
            "",
            f"Rules over two hashes, the highest recall at FPR <= {max_fpr:.2%}:",
            "",
            "| rule | recall | FPR |",
            "|---|---|---|",
            *(f"| {r.text()} | {r.recall:.3f} | {r.fpr:.4%} |" for r in rules),
        ]
    for c in curves:
        lines += [
            "",
            f"### {c.hash_type}: every threshold",
            "",
            "| threshold | precision | recall | F1 | FPR |",
            "|---|---|---|---|---|",
        ]
        last = min(len(c.true) - 1, max(c.threshold_at(0.05), 0) + 2)
        lines += [
            f"| {t} | {c.precision()[t]:.3f} | {c.recall()[t]:.3f} | {c.f1()[t]:.3f} | "
            f"{c.fpr()[t]:.4%} |"
            for t in range(last + 1)
        ]
    return "\n".join(lines) + "\n"


def plot(curves: Sequence[Curve], path: Path) -> None:
    """Precision against recall, one curve per hash type."""
    import matplotlib  # imported here: it costs a third of a second that other commands skip

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    for c in curves:
        ax.plot(
            c.recall(),
            c.precision(),
            marker=".",
            label=f"{c.hash_type} (AP {c.average_precision:.2f})",
        )
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
