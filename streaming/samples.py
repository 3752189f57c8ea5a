"""Sample photos with planted near-duplicates, for the demo and the tests.

The originals are real photos shipped inside scikit-image (no download); each variant is an original
after an everyday edit (re-encoding, resizing, a brightness change, a small crop, a caption).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Colour and greyscale photos in skimage/data; the drawings and textures there would collide with
# each other.
PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "retina",
    "camera",
    "coins",
    "moon",
    "immunohistochemistry",
    "page",
    "grass",
    "brick",
    "gravel",
    "cell",
    "clock",
)


def photos() -> dict[str, np.ndarray]:
    """The shipped photos as BGR uint8 arrays, by name."""
    import skimage.data
    from skimage.util import img_as_ubyte

    loaded = {}
    for name in PHOTOS:
        image = img_as_ubyte(np.asarray(getattr(skimage.data, name)()))
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        loaded[name] = (
            cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2BGR) if image.shape[2] >= 3 else image
        )
    return loaded


def _caption(image: np.ndarray) -> np.ndarray:
    out = image.copy()
    h, w = out.shape[:2]
    cv2.putText(
        out,
        "(c) neardup",
        (w // 20, h - h // 12),
        cv2.FONT_HERSHEY_SIMPLEX,
        w / 900,
        (255, 255, 255),
        2,
    )
    return out


def _crop(image: np.ndarray, share: float = 0.05) -> np.ndarray:
    h, w = image.shape[:2]
    dy, dx = int(h * share / 2), int(w * share / 2)
    return image[dy : h - dy, dx : w - dx]


EDITS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "half": lambda im: cv2.resize(im, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
    "brighter": lambda im: cv2.convertScaleAbs(im, alpha=1.0, beta=25),
    "caption": _caption,
    "crop5": _crop,
}


@dataclass(frozen=True)
class SampleSet:
    originals: list[Path]
    variants: dict[Path, Path]  # variant -> the original it was made from


def write_samples(
    folder: Path, variants_of: int = 6, edits: tuple[str, ...] = ("half", "brighter", "caption")
) -> SampleSet:
    """Every photo as JPEG in folder/originals, and for the first `variants_of` photos one file per
    edit in folder/variants (lower JPEG quality, so the bytes always differ from the original)."""
    (folder / "originals").mkdir(parents=True, exist_ok=True)
    (folder / "variants").mkdir(parents=True, exist_ok=True)
    originals, variants = [], {}
    for i, (name, image) in enumerate(photos().items()):
        original = folder / "originals" / f"{name}.jpg"
        cv2.imwrite(str(original), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        originals.append(original)
        if i >= variants_of:
            continue
        for edit in edits:
            variant = folder / "variants" / f"{name}-{edit}.jpg"
            cv2.imwrite(str(variant), EDITS[edit](image), [cv2.IMWRITE_JPEG_QUALITY, 75])
            variants[variant] = original
    return SampleSet(originals, variants)
