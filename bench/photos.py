"""The benchmark corpus: real photos (shipped by scikit-image) as JPEGs of at least 2 megapixels.

Each file is one photo, upscaled past 2 MP, cropped, colour-shifted and re-encoded differently, so that
no two files are alike byte-wise; built once into .cache/bench and reused.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from streaming.config import PROJECT_ROOT
from streaming.samples import photos

CACHE = PROJECT_ROOT / ".cache" / "bench"


def jpeg_corpus(count: int = 120, min_pixels: int = 2_000_000) -> list[Path]:
    folder = CACHE / f"jpeg-{count}-{min_pixels}"
    files = sorted(folder.glob("*.jpg"))
    if len(files) == count:
        return files
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    sources = list(photos().items())
    files = []
    for i in range(count):
        name, image = sources[i % len(sources)]
        h, w = image.shape[:2]
        top, left = int(rng.integers(0, h // 10 + 1)), int(rng.integers(0, w // 10 + 1))
        crop = image[top : h - int(rng.integers(0, h // 10 + 1)), left : w - int(rng.integers(0, w // 10 + 1))]
        scale = math.sqrt(min_pixels / (crop.shape[0] * crop.shape[1])) * float(rng.uniform(1.0, 1.4))
        big = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        shifted = cv2.convertScaleAbs(big, alpha=float(rng.uniform(0.85, 1.15)), beta=float(rng.uniform(-15, 15)))
        path = folder / f"{i:04d}-{name}.jpg"
        cv2.imwrite(str(path), shifted, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(80, 96))])
        files.append(path)
    return files
