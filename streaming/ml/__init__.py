"""Spark ML stages: ImageTransformer, ImageHasher, NearDuplicateDetector and its model."""

from streaming.ml.stages import ImageHasher, NearDuplicateDetector, NearDuplicateModel
from streaming.ml.transform import ImageTransformer

__all__ = ["ImageHasher", "ImageTransformer", "NearDuplicateDetector", "NearDuplicateModel"]
