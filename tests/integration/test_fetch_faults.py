"""Fetch faults and SSRF attempts against a local HTTP server that misbehaves on purpose, and the
S3 server's refusals, through the stream's own mapInPandas function (no Spark needed to call it):
every reference ends as hashes or as the right dead-letter reason."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import cv2
import numpy as np
import obstore
import pandas as pd
import pytest

from streaming.config import Config
from streaming.errors import ExitCode, NeardupError
from streaming.hashing import HashSpec
from streaming.storage import check_reachable, open_store
from streaming.stream.ingest import ingest

from .corpus import kafka_records

HOST = "127.0.0.2"  # the server's own loopback address, the one network the tests allow
MAX_BYTES = 100_000
TIMEOUT_MS = 1000


def small_jpeg() -> bytes:
    field = np.random.default_rng(7).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    image = cv2.resize(field, (64, 64), interpolation=cv2.INTER_CUBIC)
    return cv2.imencode(".jpg", image)[1].tobytes()


JPEG = small_jpeg()


class Misbehaving(BaseHTTPRequestHandler):
    """Each path one behaviour; `seen` counts the requests per path."""

    seen: ClassVar[Counter[str]] = Counter()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.seen[path] += 1
        target = self.redirects().get(path)
        if target is not None:
            self.redirect(target)
        else:
            self.answer(path, first=self.seen[path] == 1)

    def redirects(self) -> dict[str, str]:
        port = self.server.server_port
        return {
            "/redirect-inside": "/ok.jpg",
            "/redirect-loopback": f"http://127.0.0.1:{port}/ok.jpg",
            "/redirect-metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "/redirect-elsewhere": "http://elsewhere.example/ok.jpg",
        }

    def answer(self, path: str, first: bool) -> None:
        if path == "/ok.jpg":
            self.send_body(JPEG)
        elif path == "/unavailable-once":
            self.send_error(503) if first else self.send_body(JPEG)
        elif path == "/slow":
            time.sleep(3 * TIMEOUT_MS / 1000)
            self.send_body(JPEG)
        elif path == "/endless":  # no Content-Length: the body ends when the connection does
            self.send_response(200)
            self.end_headers()
            self.write_until_refused(MAX_BYTES * 20)
        elif path in ("/reset", "/reset-once"):
            if path == "/reset" or first:
                self.reset_mid_body()
            else:
                self.send_body(JPEG)
        elif path == "/forbidden":
            self.send_error(403)
        else:
            self.send_error(404)

    def send_body(self, body: bytes) -> None:
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the client gave up first (the slow path)

    def redirect(self, target: str) -> None:
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def write_until_refused(self, limit: int) -> None:
        try:
            for _ in range(limit // 4096):
                self.wfile.write(b"\xff" * 4096)
        except OSError:
            pass  # the client hung up, as it should
        self.close_connection = True

    def reset_mid_body(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(JPEG)))
        self.end_headers()
        self.wfile.write(JPEG[: len(JPEG) // 3])
        self.wfile.flush()
        # SO_LINGER 0: close() sends a TCP reset instead of a clean end.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


class Server(ThreadingHTTPServer):
    # The default backlog of 5 drops the SYNs of a burst of concurrent fetches: the client's
    # retransmission after 1 s then outlasts sources.timeout_ms and the server never sees it.
    request_queue_size = 128


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    Misbehaving.seen = Counter()
    httpd = Server((HOST, 0), Misbehaving)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def run_ingest(config: Config, uris: list[str]) -> pd.DataFrame:
    """The stream's mapInPandas function over Kafka-like records of these references."""
    records = kafka_records(uris)
    spec = HashSpec(types=("phash",))
    return pd.concat(ingest(config, spec)(iter([records])), ignore_index=True)


def outcomes(frame: pd.DataFrame) -> dict[str, str]:
    """uri -> "hashed" or its dead-letter reason."""
    return {
        row.uri: "hashed" if row.error_code is None and row.phash is not None else row.error_code
        for row in frame.itertuples()
    }


def test_http_faults_and_ssrf_attempts_end_as_hashes_or_the_right_dead_letter(config, server):
    config = config.replace(
        **{
            "sources.http_allowlist": [HOST, "127.0.0.1", "169.254.169.254", "localhost"],
            "sources.allowed_networks": [f"{HOST}/32"],
            "sources.max_bytes": MAX_BYTES,
            "sources.timeout_ms": TIMEOUT_MS,
            "sources.retries": 2,
        }
    )
    port = server.rsplit(":", 1)[1]
    expected = {
        f"{server}/ok.jpg": "hashed",
        f"{server}/redirect-inside": "hashed",
        f"{server}/unavailable-once": "hashed",  # 503, retried, then 200
        f"{server}/reset-once": "hashed",  # reset mid-body, retried
        f"{server}/redirect-loopback": "disallowed_address",
        f"{server}/redirect-metadata": "disallowed_address",
        f"{server}/redirect-elsewhere": "disallowed_host",
        f"http://localhost:{port}/ok.jpg": "disallowed_address",  # a name for a loopback address
        f"{server}/slow": "fetch_failed",
        f"{server}/endless": "too_many_bytes",
        f"{server}/reset": "fetch_failed",
        f"{server}/missing.jpg": "missing_file",
        f"{server}/forbidden": "forbidden",
    }
    frame = run_ingest(config, list(expected))
    assert outcomes(frame) == expected
    messages = dict(zip(frame["uri"], frame["error_message"], strict=True))
    assert "timed out" in messages[f"{server}/slow"]
    assert "after 2 retries" in messages[f"{server}/slow"]
    assert "after 2 retries" in messages[f"{server}/reset"]
    assert Misbehaving.seen["/slow"] == 3
    assert Misbehaving.seen["/ok.jpg"] == 2  # direct, and after the redirect inside


def test_s3_references_are_hashed_and_the_stores_refusals_dead_lettered(s3):
    store = open_store(s3, "s3://images")
    obstore.put(store, "faults/ok.jpg", JPEG)
    obstore.put(store, "faults/big.jpg", JPEG * (MAX_BYTES // len(JPEG) + 1))
    config = s3.replace(
        **{"sources.allowed_roots": ["s3://images/faults/"], "sources.max_bytes": MAX_BYTES}
    )
    expected = {
        "s3://images/faults/ok.jpg": "hashed",
        "s3://images/faults/big.jpg": "too_many_bytes",
        "s3://images/faults/missing.jpg": "missing_file",
        "s3://images/elsewhere/ok.jpg": "outside_roots",
    }
    assert outcomes(run_ingest(config, list(expected))) == expected
    wrong_key = config.replace(**{"s3.secret_access_key": "not-the-key"})
    assert outcomes(run_ingest(wrong_key, ["s3://images/faults/ok.jpg"])) == {
        "s3://images/faults/ok.jpg": "forbidden"
    }


def test_an_s3_endpoint_that_does_not_answer_or_refuses_stops_the_stream_before_spark(s3):
    check_reachable(s3, "s3://lake/not-yet/index")  # a path that does not exist yet is fine
    with pytest.raises(NeardupError) as refused:
        check_reachable(s3.replace(**{"s3.secret_access_key": "not-the-key"}), "s3://lake/x")
    assert refused.value.exit_code == ExitCode.STORE_REFUSED
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with pytest.raises(NeardupError) as unreachable:
        check_reachable(s3.replace(**{"s3.endpoint_url": nobody}), "s3://lake/x")
    assert unreachable.value.exit_code == ExitCode.STORE_UNREACHABLE
    assert "s3.endpoint_url" in unreachable.value.message
