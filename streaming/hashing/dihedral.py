"""The 8 dihedral transforms of an image (flips, quarter turns, transposes), on its small grids.

A transform is a transpose or not, then a flip of the rows and of the columns or not. Each hash is
a threshold on a small grid of the image, so the transformed image's grid is the grid transformed
(up to the rounding of the resize), and so is phash's DCT block: flipping the columns of an image
negates its odd-column coefficients, transposing it transposes the block (PDQ's reference computes
its 8 hashes from one DCT the same way). Only the thresholds (medians) are taken again. The one
grid a transform cannot reuse is dhash's, which is wider than high: the transposes read a second,
higher than wide, grid. PDQ's own library gives its 8 hashes. Each type that has them computes its
8 hashes from one decode with these (`HashType.variants`, streaming.hashing.types).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Transform(NamedTuple):
    name: str
    transpose: bool  # applied first
    flip_rows: bool  # upside down
    flip_columns: bool  # left to right


# Identity first; rot90 turns counterclockwise (numpy's rot90), rot270 clockwise.
TRANSFORMS = (
    Transform("identity", False, False, False),
    Transform("flip_h", False, False, True),
    Transform("flip_v", False, True, False),
    Transform("rot180", False, True, True),
    Transform("transpose", True, False, False),
    Transform("rot90", True, True, False),
    Transform("rot270", True, False, True),
    Transform("transverse", True, True, True),
)
TRANSFORM_NAMES = tuple(t.name for t in TRANSFORMS)
# The inverse of each transform: rot90 undoes rot270; every other one undoes itself.
INVERSE = {"rot90": "rot270", "rot270": "rot90"}


def inverse(name: str) -> str:
    return INVERSE.get(name, name)


def apply(grid: np.ndarray, transform: Transform) -> np.ndarray:
    """The grid (rows x columns, any trailing axes) of the transformed image."""
    out = np.swapaxes(grid, 0, 1) if transform.transpose else grid
    if transform.flip_rows:
        out = out[::-1]
    if transform.flip_columns:
        out = out[:, ::-1]
    return out


def _signs(size: int) -> np.ndarray:
    return np.where(np.arange(size) % 2 == 1, -1.0, 1.0)


def dct_block(block: np.ndarray, transform: Transform) -> np.ndarray:
    """The low DCT block of the transformed image: a flip negates the odd frequencies along it."""
    out = block.T if transform.transpose else block
    if transform.flip_rows:
        out = _signs(out.shape[0])[:, None] * out
    if transform.flip_columns:
        out = out * _signs(out.shape[1])[None, :]
    return out
