"""Images as numpy arrays, OpenCV only, no Spark: the operations of ImageTransformer (ops) and the
conversions between arrays and what Spark holds, encoded bytes or its image struct (codec)."""
