"""Folders shared by the dedup and ML tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from streaming.samples import photos


@pytest.fixture(scope="session")
def mirror_and_crop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small photos, astronaut with its mirror and coffee with its 20 % central crop (each too
    far from its photo for phash alone at threshold 10)."""
    folder = tmp_path_factory.mktemp("mirror_and_crop")
    images = photos()
    astronaut, coffee = (
        cv2.resize(images[name], (192, 144), interpolation=cv2.INTER_AREA)
        for name in ("astronaut", "coffee")
    )
    h, w = coffee.shape[:2]
    dy, dx = round(h * 0.1), round(w * 0.1)
    for name, pixels in {
        "astronaut.png": astronaut,
        "astronaut_mirror.png": cv2.flip(astronaut, 1),
        "coffee.png": coffee,
        "coffee_crop.png": coffee[dy : h - dy, dx : w - dx],
    }.items():
        cv2.imwrite(str(folder / name), pixels)
    return folder
