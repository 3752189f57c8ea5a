"""The hashes of an image's 8 dihedral transforms (flips, quarter turns, transposes), one decode.

A transform is a transpose or not, then a flip of the rows and of the columns or not. Each hash is
a threshold on a small grid of the image, so the transformed image's grid is the grid transformed
(up to the rounding of the resize), and so is phash's DCT block: flipping the columns of an image
negates its odd-column coefficients, transposing it transposes the block (PDQ's reference computes
its 8 hashes from one DCT the same way). Only the thresholds (medians) are taken again. The one
grid a transform cannot reuse is dhash's, which is wider than high: the transposes read a second,
higher than wide, grid. PDQ's own library gives its 8 hashes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from streaming.hashing.decode import Decoded
from streaming.hashing.resample import resize_like_pil
from streaming.hashing.types import pdq, perceptual, wavelet
from streaming.hashing.words import bits_to_hex


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
DIHEDRAL_TYPES = ("ahash", "phash", "dhash", "whash", "pdq")
# The inverse of each transform: rot90 undoes rot270; every other one undoes itself.
INVERSE = {"rot90": "rot270", "rot270": "rot90"}
# pdqhash.compute_dihedral's order (original, rotate 90, 180, 270, flip x, flip y, flip +1, -1)
# in TRANSFORMS' names, as tests/hashing/test_dihedral.py checks against turned images.
_PDQ_ORDER = (
    *("identity", "rot90", "rot180", "rot270"),
    *("flip_v", "flip_h", "transpose", "transverse"),
)


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


def variants(image: Decoded, hash_type: str, hash_size: int) -> list[str]:
    """The hash of each transform of the image, in TRANSFORMS order (the identity is the hash)."""
    if hash_type == "phash":
        low = perceptual.coefficients(image, hash_size)
        blocks = [dct_block(low, t) for t in TRANSFORMS]
        return [bits_to_hex((b > np.median(b)).ravel()) for b in blocks]
    if hash_type == "ahash":
        grid = resize_like_pil(image, hash_size, hash_size)
        return [bits_to_hex((apply(grid, t) > grid.mean()).ravel()) for t in TRANSFORMS]
    if hash_type == "whash":
        low = wavelet.haar_blocks(image, hash_size)
        return [bits_to_hex((apply(low, t) > np.median(low)).ravel()) for t in TRANSFORMS]
    if hash_type == "dhash":
        wide = resize_like_pil(image, hash_size + 1, hash_size)
        high = resize_like_pil(image, hash_size, hash_size + 1)
        grids = [apply(high if t.transpose else wide, t) for t in TRANSFORMS]
        return [bits_to_hex((g[:, 1:] > g[:, :-1]).ravel()) for g in grids]
    if hash_type == "pdq":
        import pdqhash

        hashes, _ = pdqhash.compute_dihedral(pdq.rgb(image))
        by_name = dict(zip(_PDQ_ORDER, hashes, strict=True))
        return [bits_to_hex(by_name[name]) for name in TRANSFORM_NAMES]
    raise ValueError(f"{hash_type} has no dihedral variants; those that do: {DIHEDRAL_TYPES}")
