"""The photos the robustness benchmarks edit: 202 distinct real photos that packages ship.

- scikit-image (PyPI, a dependency): its 16 photos (streaming.samples.PHOTOS);
- matplotlib (PyPI, the bench extra): Grace Hopper's portrait;
- Debian packages, unpacked by `make bench` into .cache/corpus (apt-get download, dpkg-deb -x;
  nothing is installed system-wide and nothing is fetched at run time):
  gcompris-qt-data (animals, monuments, musicians, underwater scenes of its activities, held in
  Qt resource files), kphotoalbum (its demo album), palapeli-data (its puzzle photos),
  mate-backgrounds (the nature set), lomiri-wallpapers-16.04 (the photographs).

Drawings, renders and abstract wallpapers of those packages are left out by name or folder. Each
photo is scaled down to at most MAX_SIDE pixels on its longer side, which every hash reads the same
(they resample to 32 x 32 at most, PDQ to 64 x 64) and which keeps a benchmark run short.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from streaming.config import PROJECT_ROOT
from streaming.samples import photos as skimage_photos

CORPUS = PROJECT_ROOT / ".cache" / "corpus" / "root"
SHARE = CORPUS / "usr" / "share"
MAX_SIDE = 512
# Qt resource files of gcompris-qt-data holding photos, and which of their images are photos.
GCOMPRIS = {
    "erase": "",
    "explore_monuments": "",
    "explore_world_animals": "",
    "explore_farm_animals": "",
    "explore_world_music": "",
    "clickgame": "sea",
    "details": "background",  # the activity's backgrounds, less DETAILS_LEFT_OUT
}
# Paintings, and the one photo that explore_monuments holds too.
DETAILS_LEFT_OUT = ("Gogh", "Tanguy", "Auvers", "Vincent", "Night_Cafe", "Neuschwanstein")
LOMIRI_DRAWINGS = ("analogpattern", "umang")
# The smallest photo kept: icons and thumbnails in the same resource files are smaller.
MIN_SIDES = (300, 500)


def corpus() -> dict[str, np.ndarray]:
    """Every photo as a BGR uint8 array, by a name that says where it comes from."""
    if not SHARE.is_dir():
        raise FileNotFoundError(f"{CORPUS} is missing: `make bench` unpacks the Debian packages")
    found = {f"skimage/{name}": image for name, image in skimage_photos().items()}
    found["matplotlib/grace_hopper"] = _read(_matplotlib_sample("grace_hopper.jpg").read_bytes())
    files = [
        *sorted((SHARE / "kphotoalbum" / "demo").glob("*.jpg")),
        *sorted((SHARE / "palapeli" / "collection").glob("*.jpg")),
        *sorted((SHARE / "backgrounds" / "mate" / "nature").glob("*.jpg")),
        *(
            path
            for path in sorted((SHARE / "backgrounds").glob("*_by_*.jpg"))
            if not path.name.startswith(LOMIRI_DRAWINGS)
        ),
    ]
    for path in files:
        found[f"{path.parent.name}/{path.stem}"] = _read(path.read_bytes())
    for resource, wanted in GCOMPRIS.items():
        for name, data in qt_resources(SHARE / "gcompris-qt" / "rcc" / f"{resource}.rcc"):
            if wanted not in name or any(p in name for p in DETAILS_LEFT_OUT):
                continue
            image = _read(data)
            if image is not None and sorted(image.shape[:2]) >= list(MIN_SIDES):
                found[f"gcompris/{resource}/{Path(name).stem}"] = image
    return {name: _shrunk(image) for name, image in found.items() if image is not None}


def qt_resources(path: Path) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of each image file in a Qt resource file (.rcc: a header, a tree of nodes,
    UTF-16 names, zlib-compressed or stored data)."""
    blob = path.read_bytes()
    if blob[:4] != b"qres":
        raise ValueError(f"{path} is not a Qt resource file")
    version, tree, data, names = struct.unpack(">4I", blob[4:20])
    node_size = 14 if version == 1 else 22  # version 2 adds the last-modified time

    def name_at(offset: int) -> str:
        (length,) = struct.unpack(">H", blob[names + offset : names + offset + 2])
        start = names + offset + 6  # past the length and the name's hash
        return blob[start : start + 2 * length].decode("utf-16-be")

    pending = [(0, "")]
    while pending:
        index, parent = pending.pop()
        at = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", blob[at : at + 6])
        name = f"{parent}/{name_at(name_offset)}" if index else ""
        if flags & 2:  # a directory: its children are consecutive nodes
            count, first = struct.unpack(">II", blob[at + 6 : at + 14])
            pending += [(first + i, name) for i in range(count)]
            continue
        (offset,) = struct.unpack(">I", blob[at + 10 : at + 14])
        (size,) = struct.unpack(">I", blob[data + offset : data + offset + 4])
        content = blob[data + offset + 4 : data + offset + 4 + size]
        if flags & 4:  # zstd: not used for images, which do not compress
            continue
        if name.lower().endswith((".webp", ".jpg", ".jpeg", ".png")):
            yield name, zlib.decompress(content[4:]) if flags & 1 else content


def _matplotlib_sample(name: str) -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / name


def _read(data: bytes) -> np.ndarray | None:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def _shrunk(image: np.ndarray) -> np.ndarray:
    scale = MAX_SIDE / max(image.shape[:2])
    if scale >= 1:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
