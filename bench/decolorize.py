"""Does decolorizing help the grey hashes, and does a resize/centerCrop before hashing?

    make bench && python -m bench.decolorize [--every N]

bench.robustness's corpus (real photos that packages ship, each edited the everyday ways) plus
colour-only edits (hue shifts, channel swaps, a colour cast, saturation up and down; colour to grey
is among the everyday ones), the photos at most MAX_SIDE pixels on their longer side. Each image is
hashed four ways: the grey step luma (imagehash's) or decolor (contrast-preserving, hashing.grey),
with or without ImageTransformer's resize(SIDE, keepAspectRatio=True).centerCrop(SIDE, SIDE)
first. For each hash and way, the threshold is the largest at which at most 0.1 % of the pairs of
different photos match (robustness.threshold_at) and the recall of each edit is measured there.
Decolorizing costs about 5 us of CPU per pixel: `--every N` takes every Nth photo only. Prints JSON
lines, writes its section at the end of docs/robustness.md (among the notes bench.robustness
keeps) and docs/decolorize.png.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from bench.robustness import DOCS, EDITS, MAX_FPR, corpus, edited, threshold_at
from streaming.hashing import HashSpec, ImageHashes, hex_to_words
from streaming.hashing.types import REGISTRY
from streaming.image.ops import make_stage
from streaming.image.recipe import Recipe
from streaming.imageframe import hash_value

TYPES = ("ahash", "phash", "dhash", "whash", "pdq")  # the hashes that start from grey
# Decolorizing costs about 5 us of CPU per pixel: the photos are hashed at most MAX_SIDE pixels on
# their longer side (the hashes read grids of 32 x 32, PDQ 64 x 64), the normalisation at SIDE.
MAX_SIDE = 256
SIDE = 128


def _hue(degrees: int) -> Callable[[np.ndarray], np.ndarray]:
    def shift(im: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(im, cv2.COLOR_BGR2HSV_FULL)
        hsv[..., 0] = (hsv[..., 0].astype(np.int32) + degrees * 256 // 360) % 256
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL)

    return shift


def _saturation(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    def scale(im: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(im, cv2.COLOR_BGR2HSV).astype(np.float32)
        hsv[..., 1] = np.clip(hsv[..., 1] * factor, 0, 255)
        return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)

    return scale


COLOUR_EDITS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "hue30": _hue(30),
    "hue90": _hue(90),
    "hue180": _hue(180),
    "swap_rb": lambda im: np.ascontiguousarray(im[..., ::-1]),
    "rotate_channels": lambda im: np.ascontiguousarray(im[..., [1, 2, 0]]),
    "warm_cast": lambda im: cv2.convertScaleAbs(im * np.array([0.75, 1.0, 1.25])),
    "saturate": _saturation(1.6),
    "desaturate": _saturation(0.4),
}
EVERYDAY = list(EDITS)
HEADING = "## Colour edits and the decolorizing grey step"
COLOUR_ONLY = ["grayscale", *COLOUR_EDITS]


@dataclass(frozen=True)
class Way:
    grey: str
    normalised: bool

    @property
    def name(self) -> str:
        return f"{self.grey}{' + resize/centerCrop' if self.normalised else ''}"

    def hash(self, png: bytes) -> ImageHashes:
        spec = HashSpec(types=TYPES, grey=self.grey)
        if not self.normalised:
            return hash_value(png, spec)
        stages = [
            make_stage("resizeShorter", size=SIDE),
            make_stage("centerCrop", height=SIDE, width=SIDE),
        ]
        return hash_value(Recipe(stages=stages).apply(png), spec)


WAYS = [Way(grey, normalised) for normalised in (False, True) for grey in ("luma", "decolor")]


def _hash_chunk(job: tuple[Way, list[bytes]]) -> tuple[list[ImageHashes], float]:
    way, blobs = job
    cv2.setNumThreads(1)
    started = time.process_time()
    return [way.hash(blob) for blob in blobs], time.process_time() - started


def hash_all(way: Way, blobs: list[bytes]) -> tuple[list[ImageHashes], float]:
    """Every blob hashed `way` by two processes; and the CPU seconds per image they took."""
    chunks = [(way, blobs[i : i + 32]) for i in range(0, len(blobs), 32)]
    with ProcessPoolExecutor(2) as pool:
        done = list(pool.map(_hash_chunk, chunks))
    return [r for results, _ in done for r in results], sum(s for _, s in done) / len(blobs)


def _at_most(image: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(image.shape[:2])
    if scale >= 1:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def found(words: np.ndarray, row: dict, originals: dict, edit: str, threshold: int) -> float:
    """The share of the photos whose `edit` lies within threshold of the original."""
    apart = [
        np.bitwise_count(words[row[n, edit]] ^ words[row[n, "original"]]).sum() for n in originals
    ]
    return float(np.mean(np.array(apart) <= threshold))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=1, help="every Nth photo only")
    args = parser.parse_args()
    originals = {
        name: _at_most(image, MAX_SIDE) for name, image in list(corpus().items())[:: args.every]
    }
    encoded = edited(originals)
    for name, image in originals.items():
        for edit, change in COLOUR_EDITS.items():
            png = cv2.imencode(".png", change(image), [cv2.IMWRITE_PNG_COMPRESSION, 1])[1]
            encoded[name, edit] = png.tobytes()
    keys = list(encoded)
    photo = np.array([list(originals).index(k[0]) for k in keys])
    row = {k: i for i, k in enumerate(keys)}
    edits = [*EDITS, *COLOUR_EDITS]

    rows, seconds = [], {}
    for way in WAYS:
        results, seconds[way.name] = hash_all(way, [encoded[k] for k in keys])
        for hash_type in TYPES:
            words = np.array(
                [hex_to_words(r.hashes[hash_type]) for r in results], dtype=np.int64
            ).view(np.uint64)
            negatives = np.concatenate(
                [
                    np.bitwise_count(words[i] ^ words[i + 1 :]).sum(axis=1)[
                        photo[i + 1 :] != photo[i]
                    ]
                    for i in range(len(keys) - 1)
                ]
            )
            threshold = threshold_at(negatives, REGISTRY[hash_type].width(8))

            recall = {e: found(words, row, originals, e, threshold) for e in edits}
            row_figures = {
                "hash": hash_type,
                "way": way.name,
                "threshold": threshold,
                "fpr": float(np.mean(negatives <= threshold)),
                "everyday": statistics.mean(recall[e] for e in EVERYDAY if e != "grayscale"),
                "colour": statistics.mean(recall[e] for e in COLOUR_ONLY),
                "recall": recall,
            }
            rows.append(row_figures)
            print(json.dumps({k: v for k, v in row_figures.items() if k != "recall"}), flush=True)
    costs = grey_step_costs(originals)
    for way, cost in seconds.items():
        print(json.dumps({"way": way, "cpu_ms_per_image": round(cost * 1000, 1)}), flush=True)
    for cost in costs:
        print(json.dumps(cost), flush=True)
    write_section(rows, seconds, costs, len(originals), len(keys), args.every)
    write_plot(rows)


def grey_step_costs(originals: dict[str, np.ndarray]) -> list[dict]:
    """CPU milliseconds per image of each grey step alone, at the photos' size and at SIDE."""
    costs = []
    for size, images in (
        (f"at most {MAX_SIDE} px", list(originals.values())),
        (
            f"{SIDE} x {SIDE}",
            [
                cv2.resize(im, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
                for im in originals.values()
            ],
        ),
    ):
        for step, grey in (
            ("luma", lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2GRAY)),
            ("decolor", lambda im: cv2.decolor(im)[0]),
        ):
            started = time.process_time()
            for image in images:
                grey(image)
            ms = (time.process_time() - started) / len(images) * 1000
            costs.append({"grey_step": step, "size": size, "ms_per_image": round(ms, 2)})
    return costs


def write_section(
    rows: list[dict],
    seconds: dict[str, float],
    costs: list[dict],
    photo_count: int,
    image_count: int,
    every: int,
) -> None:
    ways = [w.name for w in WAYS]
    lines = [
        HEADING,
        "",
        f"Command: `python -m bench.decolorize --every {every}` (writes this section and "
        "`decolorize.png`).",
        "",
        f"{photo_count} of the photos above (`--every`), scaled to at most {MAX_SIDE} pixels on "
        f"their longer side (decolorizing costs about 5 us of CPU per pixel), with their "
        f"{len(EVERYDAY)} everyday edits and {len(COLOUR_EDITS)} colour-only ones "
        f"({', '.join(COLOUR_EDITS)}; `grayscale` counts as colour-only too),",
        "hashed four ways: the grey step `luma` (imagehash's, the default) or `decolor` "
        "(`hashing.grey`, OpenCV's",
        "contrast-preserving decolorization), each with or without ImageTransformer's "
        f"`resize({SIDE}, keepAspectRatio=True)`",
        f"and `centerCrop({SIDE}, {SIDE})` first. Thresholds at FPR <= {MAX_FPR:.1%} for each "
        "hash and way, as above;",
        "mean recall of the everyday edits (grayscale left out) and of the colour-only ones:",
        "",
        "| hash | " + " | ".join(f"{w}: threshold, everyday, colour" for w in ways) + " |",
        "|---|" + "---|" * len(ways),
    ]
    for hash_type in TYPES:
        cells = []
        for way in ways:
            r = next(r for r in rows if r["hash"] == hash_type and r["way"] == way)
            cells.append(f"{r['threshold']}, {r['everyday']:.0%}, {r['colour']:.0%}")
        lines.append(f"| {hash_type} | " + " | ".join(cells) + " |")
    lines += ["", *_verdict(rows, seconds), "", "Recall of each colour-only edit:"]
    lines += [
        "",
        "| hash | way | " + " | ".join(COLOUR_ONLY) + " |",
        "|---|---|" + "---|" * len(COLOUR_ONLY),
        *(
            f"| {r['hash']} | {r['way']} | "
            + " | ".join(f"{r['recall'][e]:.0%}" for e in COLOUR_ONLY)
            + " |"
            for r in rows
        ),
        "",
        f"Cost, CPU time on one core over the {image_count} images (the machine was shared: "
        "ratios hold better than",
        "absolute figures): decoding, transforming and hashing the five hashes, per image,",
        "",
        "| way | ms per image |",
        "|---|---|",
        *(f"| {way} | {ms * 1000:.0f} |" for way, ms in seconds.items()),
        "",
        "and the grey step alone:",
        "",
        "| grey step | image size | ms per image |",
        "|---|---|---|",
        *(f"| {c['grey_step']} | {c['size']} | {c['ms_per_image']} |" for c in costs),
        "",
        "![recall by way](decolorize.png)",
        "",
    ]
    # At the end of robustness.md, among the notes bench.robustness keeps; a former run's replaced.
    path = DOCS / "robustness.md"
    text = path.read_text()
    if HEADING in text:
        start = text.index(HEADING)
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + (text[end + 1 :] if end >= 0 else "")
    path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines))


def _verdict(rows: list[dict], seconds: dict[str, float]) -> list[str]:
    """Decolor against luma, in one sentence per normalisation: the change of mean recall over the
    hashes, the hashes it helps, and its cost."""
    lines = []
    for suffix in ("", " + resize/centerCrop"):
        luma, decolor = (
            {r["hash"]: r for r in rows if r["way"] == grey + suffix}
            for grey in ("luma", "decolor")
        )
        change = {
            kind: 100 * statistics.mean(decolor[t][kind] - luma[t][kind] for t in TYPES)
            for kind in ("everyday", "colour")
        }
        helped = [t for t in TYPES if decolor[t]["colour"] > luma[t]["colour"]]
        lines.append(
            f"- decolor against luma{suffix}: colour-only recall {change['colour']:+.1f} points, "
            f"everyday {change['everyday']:+.1f} points on average over the five hashes; higher "
            f"colour-only recall for {', '.join(helped) or 'none of them'}; "
            f"{seconds['decolor' + suffix] * 1000:.0f} ms of CPU per image instead of "
            f"{seconds['luma' + suffix] * 1000:.0f}."
        )
    return lines


def write_plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    width = 0.8 / len(WAYS)
    for ax, (kind, title) in zip(
        axes, (("everyday", "everyday edits"), ("colour", "colour-only edits")), strict=True
    ):
        for i, way in enumerate(WAYS):
            values = [
                next(r[kind] for r in rows if r["hash"] == t and r["way"] == way.name)
                for t in TYPES
            ]
            ax.bar(np.arange(len(TYPES)) + i * width, values, width, label=way.name)
        ax.set_xticks(np.arange(len(TYPES)) + width * (len(WAYS) - 1) / 2, TYPES)
        ax.set_title(f"mean recall at FPR <= {MAX_FPR:.1%}, {title}")
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(DOCS / "decolorize.png", dpi=80)


if __name__ == "__main__":
    main()
