"""Which hash, which threshold: distances of edited copies against distances of different photos.

    python -m bench.robustness

Each real photo shipped by scikit-image goes through the usual edits; for every hash type this
measures the Hamming distance of (photo, edited photo) pairs and of pairs of different photos (every
edited version of one photo against every edited version of another), picks the largest threshold
whose false-positive rate stays at or under 0.1 %, and reports the recall of each edit there.
Writes docs/robustness.md and docs/robustness.png.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from streaming.config import PROJECT_ROOT
from streaming.hashing import HashSpec, hash_bits, hash_images, hex_to_words
from streaming.samples import photos

TYPES = ("ahash", "phash", "dhash", "whash", "colorhash", "pdq")
MAX_FPR = 0.001
# The thresholds users meet first: conf/local.toml's for 64-bit hashes, PDQ's published match
# threshold.
DEFAULT_THRESHOLDS = {"pdq": 31}
DOCS = PROJECT_ROOT / "docs"


def _jpeg(quality: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda im: cv2.imdecode(
        cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR
    )


def _resize(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda im: cv2.resize(im, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def _crop(share: float) -> Callable[[np.ndarray], np.ndarray]:
    def crop(im: np.ndarray) -> np.ndarray:
        h, w = im.shape[:2]
        dy, dx = int(h * share / 2), int(w * share / 2)
        return im[dy : h - dy, dx : w - dx]

    return crop


def _rotate(degrees: float) -> Callable[[np.ndarray], np.ndarray]:
    def rotate(im: np.ndarray) -> np.ndarray:
        h, w = im.shape[:2]
        return cv2.warpAffine(
            im,
            cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0),
            (w, h),
            borderMode=cv2.BORDER_REFLECT,
        )

    return rotate


def _gamma(g: float) -> Callable[[np.ndarray], np.ndarray]:
    table = np.array([((i / 255.0) ** g) * 255 for i in range(256)], np.uint8)
    return lambda im: cv2.LUT(im, table)


def _watermark(im: np.ndarray) -> np.ndarray:
    out = im.copy()
    h, w = out.shape[:2]
    cv2.putText(
        out,
        "SAMPLE (c) 2026",
        (w // 10, h // 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        w / 500,
        (255, 255, 255),
        3,
    )
    return out


def _noise(im: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(im + rng.normal(0, 8, im.shape), 0, 255).astype(np.uint8)


EDITS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    **{f"jpeg{q}": _jpeg(q) for q in (90, 70, 50, 30)},
    **{f"resize{f}": _resize(f) for f in (0.5, 0.25)},
    "resize2": lambda im: cv2.resize(im, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC),
    "brighter": lambda im: cv2.convertScaleAbs(im, alpha=1.0, beta=40),
    "darker": lambda im: cv2.convertScaleAbs(im, alpha=1.0, beta=-40),
    "contrast": lambda im: cv2.convertScaleAbs(im, alpha=1.3, beta=-30),
    "gamma": _gamma(0.7),
    "grayscale": lambda im: cv2.cvtColor(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR),
    **{f"crop{int(s * 100)}": _crop(s) for s in (0.05, 0.10, 0.20)},
    "watermark": _watermark,
    "rotate2": _rotate(2),
    "rotate5": _rotate(5),
    "flip": lambda im: cv2.flip(im, 1),
    "blur": lambda im: cv2.GaussianBlur(im, (5, 5), 0),
    "noise": _noise,
    "border": lambda im: cv2.copyMakeBorder(
        im, *(max(im.shape[:2]) // 20,) * 4, cv2.BORDER_CONSTANT, value=0
    ),
}


def distance(a: list[int], b: list[int]) -> int:
    return sum(bin((x ^ y) & (2**64 - 1)).count("1") for x, y in zip(a, b, strict=True))


def main() -> None:
    originals = photos()
    names = list(originals)
    encoded: dict[tuple[str, str], bytes] = {}
    for name, image in originals.items():
        encoded[name, "original"] = cv2.imencode(".png", image)[1].tobytes()
        for edit, change in EDITS.items():
            encoded[name, edit] = cv2.imencode(".png", change(image))[1].tobytes()
    keys = list(encoded)
    results = hash_images([encoded[k] for k in keys], HashSpec(types=TYPES))
    words = {
        t: {k: hex_to_words(r.hashes[t]) for k, r in zip(keys, results, strict=True)} for t in TYPES
    }

    rows, curves = [], {}
    for hash_type in TYPES:
        w = words[hash_type]
        positives = {
            edit: [distance(w[n, "original"], w[n, edit]) for n in names] for edit in EDITS
        }
        negatives = np.array(
            [distance(w[a], w[b]) for a, b in itertools.combinations(keys, 2) if a[0] != b[0]]
        )
        threshold = max(
            (t for t in range(hash_bits(hash_type, 8)) if np.mean(negatives <= t) <= MAX_FPR),
            default=-1,
        )
        recall = {edit: float(np.mean(np.array(d) <= threshold)) for edit, d in positives.items()}
        default = DEFAULT_THRESHOLDS.get(hash_type, 10)
        at_default = (
            default,
            float(np.mean(negatives <= default)),
            float(np.mean(np.concatenate(list(positives.values())) <= default)),
        )
        rows.append(
            (hash_type, threshold, float(np.mean(negatives <= threshold)), recall, at_default)
        )
        curves[hash_type] = (np.concatenate(list(positives.values())), negatives)
    write_markdown(rows, len(names), len(curves[TYPES[0]][1]))
    write_plot(curves, {r[0]: r[1] for r in rows})


def write_markdown(rows, photo_count: int, negative_pairs: int) -> None:
    edits = list(EDITS)
    lines = [
        "# Robustness of the hashes to everyday edits",
        "",
        "Command: `python -m bench.robustness` (writes this file and `robustness.png`).",
        "",
        f"{photo_count} real photos shipped by scikit-image, each edited {len(edits)} ways. For "
        "each hash the",
        f"threshold is the largest Hamming distance at which at most {MAX_FPR:.1%} of the "
        f"{negative_pairs}",
        "pairs of *different* photos (all their edited versions against each other) would be "
        "flagged; the table",
        "gives the share of (photo, edited photo) pairs found at that threshold.",
        "",
        "| hash | bits | threshold | FPR | mean recall | " + " | ".join(edits) + " |",
        "|---|---|---|---|---|" + "---|" * len(edits),
    ]
    for hash_type, threshold, fpr, recall, _ in rows:
        mean = np.mean(list(recall.values()))
        shown = threshold if threshold >= 0 else "none (distance 0 already over)"
        lines.append(
            f"| {hash_type} | {hash_bits(hash_type, 8)} | {shown} | {fpr:.2%} | {mean:.0%} | "
            + " | ".join(f"{recall[e]:.0%}" for e in edits)
            + " |"
        )
    lines += [
        "",
        "At the default thresholds (conf/local.toml's 10 for 64-bit hashes; PDQ's published 31):",
        "",
        "| hash | threshold | FPR | mean recall |",
        "|---|---|---|---|",
        *(f"| {r[0]} | {r[4][0]} | {r[4][1]:.2%} | {r[4][2]:.0%} |" for r in rows),
    ]
    (DOCS / "robustness.md").write_text("\n".join(lines) + "\n")


def write_plot(curves, thresholds) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(14, 7))
    for ax, (hash_type, (positives, negatives)) in zip(axes.ravel(), curves.items(), strict=True):
        bins = np.arange(0, hash_bits(hash_type, 8) + 2) - 0.5
        ax.hist(negatives, bins=bins, density=True, alpha=0.6, label="different photos")
        ax.hist(positives, bins=bins, density=True, alpha=0.6, label="photo vs edited copy")
        ax.axvline(
            thresholds[hash_type] + 0.5, color="k", linestyle="--", label="threshold at FPR 0.1%"
        )
        ax.set_title(hash_type)
        ax.set_xlabel("Hamming distance")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(Path(DOCS / "robustness.png"), dpi=80)


if __name__ == "__main__":
    main()
