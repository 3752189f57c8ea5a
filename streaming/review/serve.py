"""Serving a review app with uvicorn until Ctrl-C, and the URL a person opens."""

from __future__ import annotations

import sys

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
