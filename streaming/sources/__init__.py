"""From an image reference to its bytes, within the limits of config.sources; no Spark, no Kafka.

A reference is a path or file:// URI that must resolve (symlinks and `..` included) under an
allowed root, an object URI (s3://, gs://, az://, abfss://) under an allowed root, an http(s) URL
on an allowed host or under an allowed root, or inline base64 content. policy.py decides what is
allowed; fetch.py reads many references at once, through obstore (files and object stores,
stores.py) and aiohttp (http, http.py). Every refusal is a Rejected with a dead-letter reason.
"""

from streaming.sources.fetch import Fetcher, Read
from streaming.sources.policy import Location, Policy

__all__ = ["Fetcher", "Location", "Policy", "Read"]
