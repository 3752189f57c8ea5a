"""neardup: near-duplicate image detection for streams (Kafka -> hashes -> Delta index ->
alerts)."""

__version__ = "0.1.0"
