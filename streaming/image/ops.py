"""Image operations: each a short pure function of a uint8 image (BGR, BGRA or grey), OpenCV only.

They are the stages of streaming.ml.ImageTransformer, with the semantics of SynapseML's
ImageTransformer (its Scala stages), so a pipeline written for it gives the same pixels here. A
stage is stored as {"action": name, **arguments}, JSON all through, and `apply_stages` runs a list
of them. docs/transform.md lists them, with the two places where this differs from SynapseML.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from streaming.errors import Reason, Rejected

Image = np.ndarray


def resize(image: Image, height: int, width: int) -> Image:
    # OpenCV's default interpolation (bilinear), as SynapseML's Imgproc.resize
    return cv2.resize(image, (width, height))


def resize_shorter(image: Image, size: int) -> Image:
    """The shorter side to `size`, the other in proportion (rounded half up, as SynapseML)."""
    height, width = image.shape[:2]
    ratio = size / min(height, width)
    return cv2.resize(image, (math.floor(width * ratio + 0.5), math.floor(height * ratio + 0.5)))


def crop(image: Image, x: int, y: int, height: int, width: int) -> Image:
    rows, columns = image.shape[:2]
    if x + width > columns or y + height > rows:
        raise ValueError(
            f"a {width}x{height} crop at ({x}, {y}) reaches outside the {columns}x{rows} image"
        )
    return image[y : y + height, x : x + width]


def center_crop(image: Image, height: int, width: int) -> Image:
    """The middle height x width, or less where the image is smaller."""
    rows, columns = image.shape[:2]
    height, width = min(height, rows), min(width, columns)
    top, left = rows // 2 - height // 2, columns // 2 - width // 2
    return image[top : top + height, left : left + width]


def color_format(image: Image, code: int) -> Image:
    """OpenCV's colour conversion `code`, e.g. cv2.COLOR_BGR2GRAY."""
    return cv2.cvtColor(image, code)


def decolorize(image: Image) -> Image:
    """Grey by contrast-preserving decolorization (Lu, Xu and Jia 2012; OpenCV's decolor): a global
    mapping fitted to each image, to keep colour contrasts that luminance flattens. OpenCV's turns
    an image without colour contrast (a grey photo) black (opencv#22002): such an image gets its
    luminance. Grey stays as it is."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    grey = cv2.decolor(image)[0]
    return grey if grey.min() < grey.max() else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def flip(image: Image, flipCode: int) -> Image:
    """0: upside down; positive: left to right; negative: both."""
    return cv2.flip(image, flipCode)


def blur(image: Image, height: int, width: int) -> Image:
    # A height x width box. SynapseML hands (height, width) to OpenCV's Size(width, height), which
    # swaps them; here they mean what they say.
    return cv2.blur(image, (width, height))


def gaussian_kernel(image: Image, apertureSize: int, sigma: float) -> Image:
    # As SynapseML: filter2D with getGaussianKernel's column, which blurs along the columns only.
    return cv2.filter2D(image, -1, cv2.getGaussianKernel(apertureSize, sigma))


def threshold(
    image: Image,
    threshold: float,
    maxVal: float,
    thresholdType: int,
) -> Image:
    return cv2.threshold(image, threshold, maxVal, thresholdType)[1]


OPERATIONS: dict[str, Callable[..., Image]] = {
    "resize": resize,
    "resizeShorter": resize_shorter,
    "crop": crop,
    "centerCrop": center_crop,
    "colorFormat": color_format,
    "decolorize": decolorize,
    "flip": flip,
    "blur": blur,
    "gaussianKernel": gaussian_kernel,
    "threshold": threshold,
}
_MINIMUM = {"height": 1, "width": 1, "size": 1, "apertureSize": 1, "x": 0, "y": 0}
_INTEGERS = (*_MINIMUM, "code", "flipCode", "thresholdType")


def make_stage(action: str, **arguments: Any) -> dict[str, Any]:
    """A stage, its arguments checked: a bad one is refused here, not on every image."""
    operation = OPERATIONS.get(action)
    if operation is None:
        raise ValueError(f"unknown image operation {action!r}; known: {', '.join(OPERATIONS)}")
    try:
        inspect.signature(operation).bind(None, **arguments)
    except TypeError as e:
        raise ValueError(f"{action}: {e}") from None
    for name, value in arguments.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{action}: {name} must be a number, got {value!r}")
        if name in _INTEGERS and not isinstance(value, int):
            raise ValueError(f"{action}: {name} must be an integer, got {value!r}")
        if name in _MINIMUM and value < _MINIMUM[name]:
            raise ValueError(f"{action}: {name} must be at least {_MINIMUM[name]}, got {value}")
    return {"action": action, **arguments}


def apply_stages(image: Image, stages: Sequence[Mapping[str, Any]]) -> Image:
    """Each stage in turn, on the previous one's output; a stage that cannot apply to this image (a
    crop outside it, a colour code for another channel count) rejects it."""
    for stage in stages:
        arguments = dict(stage)
        action = arguments.pop("action")
        try:
            image = OPERATIONS[action](image, **arguments)
        except (ValueError, cv2.error) as e:
            raise Rejected(Reason.TRANSFORM_FAILED, f"{action}: {reason(e)}") from None
    return image


_TO_RGB = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}


def normalize(
    image: Image,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    scale: float = 1.0,
) -> np.ndarray:
    """SynapseML's tensor: alpha dropped, channels in RGB order, each value * scale - mean, divided
    by std (by channel; no mean 0, no std 1), as float32 channels x height x width."""
    if image.ndim == 2:
        image = image[..., np.newaxis]
    elif image.shape[2] in (3, 4):
        image = cv2.cvtColor(
            image, cv2.COLOR_BGR2RGB if image.shape[2] == 3 else cv2.COLOR_BGRA2RGB
        )
    channels = image.shape[2]
    mean = [0.0] * channels if mean is None else mean
    std = [1.0] * channels if std is None else std
    if len(mean) != channels or len(std) != channels:
        raise Rejected(
            Reason.TRANSFORM_FAILED,
            f"normalize: {len(mean)} means and {len(std)} deviations for {channels} channels",
        )
    tensor = (image.astype(np.float64) * scale - np.asarray(mean)) / np.asarray(std)
    return tensor.transpose(2, 0, 1).astype(np.float32)


def reason(error: Exception) -> str:
    """OpenCV's errors span lines (version, source file, C++ signature): the reason alone."""
    text = str(error)
    if not isinstance(error, cv2.error):
        return text
    found = re.search(r"error: \(-?\d+:([^)]*)\) ?(.*?) in function", text)
    details = [line.lstrip("> ").strip() for line in text.splitlines() if line.startswith(">")]
    parts = [found.group(1), found.group(2)] if found else []
    return ": ".join(part for part in [*parts, " ".join(details)] if part) or text.strip()
