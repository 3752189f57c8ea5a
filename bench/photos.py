"""The benchmark corpus: real photos (shipped by scikit-image) as JPEGs of at least 2 megapixels.

Each file is one photo, upscaled past 2 MP, cropped, colour-shifted and re-encoded differently, so
that no two files are alike byte-wise; built once into .cache/bench and reused.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from streaming.config import PROJECT_ROOT
from streaming.samples import photos

CACHE = PROJECT_ROOT / ".cache" / "bench"


def jpeg_corpus(
    count: int = 120, min_pixels: int = 2_000_000, distinct: bool = False
) -> list[Path]:
    """`count` JPEGs of at least `min_pixels`. The photos repeat every len(photos()) files, so most
    files are near-duplicates of others; with `distinct`, each file is a mosaic of four crops of
    random photos, randomly flipped, which no other file resembles (a stream where duplicates are
    the exception)."""
    folder = CACHE / f"jpeg-{count}-{min_pixels}{'-distinct' if distinct else ''}"
    files = sorted(folder.glob("*.jpg"))
    if len(files) == count:
        return files
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    sources = list(photos().items())
    files = []
    for i in range(count):
        name, image = sources[i % len(sources)]
        if distinct:
            name, image = (
                "mosaic",
                _mosaic([sources[j][1] for j in rng.integers(0, len(sources), 4)], rng),
            )
        h, w = image.shape[:2]
        top, left = int(rng.integers(0, h // 10 + 1)), int(rng.integers(0, w // 10 + 1))
        crop = image[
            top : h - int(rng.integers(0, h // 10 + 1)),
            left : w - int(rng.integers(0, w // 10 + 1)),
        ]
        scale = math.sqrt(min_pixels / (crop.shape[0] * crop.shape[1])) * float(
            rng.uniform(1.0, 1.4)
        )
        big = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        shifted = cv2.convertScaleAbs(
            big, alpha=float(rng.uniform(0.85, 1.15)), beta=float(rng.uniform(-15, 15))
        )
        path = folder / f"{i:04d}-{name}.jpg"
        cv2.imwrite(str(path), shifted, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(80, 96))])
        files.append(path)
    return files


def _mosaic(images: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A 2 x 2 grid of random quarter-size crops of these four images, each flipped one of four
    ways."""
    side = 256
    tiles = []
    for image in images:
        h, w = image.shape[:2]
        top, left = (
            int(rng.integers(0, max(h - h // 2, 1))),
            int(rng.integers(0, max(w - w // 2, 1))),
        )
        tile = cv2.resize(image[top : top + h // 2, left : left + w // 2], (side, side))
        tiles.append(cv2.flip(tile, int(rng.integers(-1, 2))))
    return np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
