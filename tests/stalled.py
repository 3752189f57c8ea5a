"""A real server whose reads never end, to close fetchers with reads in flight: it accepts every
connection and never answers. The sources settings and Kafka records that read from it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from streaming.config import Config, load_config

from .integration.corpus import kafka_records

WAIT_S = 30  # a hang fails the test after this long instead of hanging the suite
STALLED = 3  # reads in flight when the consumer stops


class StalledServer:
    """A TCP server on loopback that takes every connection and never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.connections.append(connection)

    def wait_for(self, count: int) -> None:
        for _ in range(WAIT_S * 20):
            if len(self.connections) >= count:
                return
            threading.Event().wait(0.05)
        raise AssertionError(f"{len(self.connections)} connections, not {count}")

    def closed_by_client(self, connection: socket.socket) -> bool:
        """Whether the client closed the connection (reads the request, then expects its end)."""
        connection.settimeout(WAIT_S)
        try:
            while connection.recv(65536):
                pass
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()


@contextmanager
def stalled_server() -> Iterator[StalledServer]:
    server = StalledServer()
    try:
        yield server
    finally:
        server.close()


def sources_config(root: Path, port: int) -> Config:
    return load_config(
        environ={},
        overrides={
            "sources.allowed_roots": [str(root), f"http://127.0.0.1:{port}/"],
            "sources.allowed_networks": ["127.0.0.1/32"],
            "sources.timeout_ms": 600_000,  # the stalled reads stay in flight
            "sources.retries": 0,
        },
    )


def kafka_batches(root: Path, port: int) -> list[pd.DataFrame]:
    """A batch of one file, then one of STALLED reads of the stalled server: the first batch's
    frame comes out while the second's reads are in flight."""
    photo = root / "photo.png"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8))
    stalled = [f"http://127.0.0.1:{port}/{n}.jpg" for n in range(STALLED)]
    return [kafka_records([str(photo)]), kafka_records(stalled)]
