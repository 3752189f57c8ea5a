"""Spark ML stages: ImageHasher, NearDuplicateDetector and its model."""

from streaming.ml.stages import ImageHasher, NearDuplicateDetector, NearDuplicateModel

__all__ = ["ImageHasher", "NearDuplicateDetector", "NearDuplicateModel"]
