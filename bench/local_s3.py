"""What the object-store benchmarks share: a free loopback port, and a configuration whose local
S3 server (s3proxy, streaming/local/s3.py) holds one bucket beside a folder of images."""

from __future__ import annotations

import socket
from pathlib import Path

from streaming.config import Config, load_config

BUCKET = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_config(state: Path, images: Path) -> Config:
    """The local S3 server on a free port, its data under `state`; sources read `images` and the
    bucket."""
    port = free_port()
    return load_config(
        overrides={
            "s3.endpoint_url": f"http://127.0.0.1:{port}",
            "s3.region": "us-east-1",
            "s3.path_style": True,
            "s3.access_key_id": "bench",
            "s3.secret_access_key": "bench-secret",
            "s3.local.port": port,
            "s3.local.state_dir": str(state),
            "s3.local.buckets": [BUCKET],
            "sources.allowed_roots": [str(images), f"s3://{BUCKET}/"],
        },
        environ={},
    )


def upload(config: Config, files: list[Path]) -> None:
    """Each file into the bucket, under its name."""
    import obstore

    from streaming.storage import open_store

    store = open_store(config, f"s3://{BUCKET}")
    for path in files:
        obstore.put(store, path.name, path.read_bytes())
