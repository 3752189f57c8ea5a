"""Serving a review app with uvicorn: until Ctrl-C for a person, or from a thread for tests."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from streaming.config import Config


def page_url(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(app: ASGIApp, config: Config, token: str | None) -> None:
    review = config.review
    print(f"review page: {page_url(review.host, review.port, token)}", file=sys.stderr, flush=True)
    uvicorn.run(app, host=review.host, port=review.port, log_level="warning")


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """The app served from a thread on a free loopback port (tests, benchmarks); yields its base
    URL and stops it on exit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the review server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
