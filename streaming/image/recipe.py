"""What ImageTransformer does to one image, no Spark: read it once, run the stages, write it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streaming.errors import Reason, Rejected
from streaming.hashing import HashSpec
from streaming.image import codec, ops

OUTPUTS = ("image", "png", "jpeg", "tensor")
_EXTENSIONS = {"png": ".png", "jpeg": ".jpg"}
# The hashing's guard against decompression bombs: an image declaring more pixels is refused.
DEFAULT_MAX_PIXELS = HashSpec.max_pixels


@dataclass(frozen=True)
class Recipe:
    stages: Sequence[Mapping[str, Any]] = ()
    output: str = "image"  # one of OUTPUTS
    mean: Sequence[float] | None = None  # of the tensor, by channel in RGB order
    std: Sequence[float] | None = None
    scale: float = 1.0
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ValueError(f"unknown output {self.output!r}; known: {', '.join(OUTPUTS)}")

    def apply(self, value: bytes | Mapping[str, Any] | None) -> Any:
        """The output for one value of the input column: encoded bytes, Spark's image struct (as a
        mapping) or null. Raises Rejected."""
        if value is None:
            raise Rejected(Reason.EMPTY, "no image: the value is null")
        if isinstance(value, Mapping):
            pixels, origin = codec.from_struct(value), value.get("origin")
        else:
            keep = self._decode_size()
            pixels, origin = codec.from_bytes(bytes(value), self.max_pixels, keep), None
        return self._write(ops.apply_stages(pixels, self.stages), origin)

    def _decode_size(self) -> tuple[int, int]:
        """The (height, width) a decode must keep for the stages: a first resize that shrinks a
        JPEG lets it be decoded reduced, never below the resize's target; anything else needs the
        full size (0, 0: never reduce)."""
        first = self.stages[0] if self.stages else {}
        if first.get("action") == "resize":
            return first["height"], first["width"]
        if first.get("action") == "resizeShorter":
            return first["size"], first["size"]
        return 0, 0

    def apply_all(
        self, values: Iterable[bytes | Mapping[str, Any] | None]
    ) -> tuple[list[Any], list[dict[str, str] | None]]:
        """apply() on each value: the outputs, and beside each the error (code, message) that left
        it null. Never raises."""
        outputs, errors = [], []
        for value in values:
            try:
                output, error = self.apply(value), None
            except Rejected as e:
                output, error = None, e
            except MemoryError:
                output, error = None, Rejected(Reason.TOO_LARGE, "out of memory")
            except Exception as e:  # a decoder's bug on hostile bytes must cost one image only
                output, error = None, Rejected(Reason.UNSUPPORTED, f"{type(e).__name__}: {e}")
            outputs.append(output)
            errors.append(
                None if error is None else {"code": error.reason, "message": error.message}
            )
        return outputs, errors

    def _write(self, pixels: np.ndarray, origin: str | None) -> Any:
        if self.output == "image":
            return codec.to_struct(pixels, origin)
        if self.output == "tensor":
            return ops.normalize(pixels, self.mean, self.std, self.scale).tolist()
        return codec.encode(pixels, _EXTENSIONS[self.output])
