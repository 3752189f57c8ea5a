"""The review page as Starlette apps: one over a stream's alerts (decisions written to the
`decisions` table), one over a batch dedup's clusters (a list of files to remove).

Handlers that read files, Kafka or Delta are plain functions or hand their work to a thread, so
the event loop never waits on them. Every page is a Jinja template with autoescape on: ids, URIs
and metas are the producers' text and reach the page escaped.
"""

from __future__ import annotations

import getpass
import json
import math
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from threading import Lock
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from jinja2 import Environment, PackageLoader
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp

from streaming.config import Config
from streaming.errors import Rejected
from streaming.index.decisions import VERDICTS, Decision, DecisionLog, standing
from streaming.review import alerts as alert_pages
from streaming.review.clusters import Cluster, removals, write_removals
from streaming.review.security import secure
from streaming.review.thumbnails import Thumbnails

TEMPLATES = Jinja2Templates(
    env=Environment(loader=PackageLoader("streaming.review"), autoescape=True)
)
THUMBNAIL_CACHING = {"Cache-Control": "private, max-age=86400"}


def reviewer_name(config: Config) -> str:
    return config.review.reviewer or getpass.getuser()


class AlertReview:
    """The state behind the alerts page: the alerts, the decisions, the thumbnails."""

    def __init__(
        self, config: Config, source: alert_pages.AlertSource, decisions: DecisionLog
    ) -> None:
        self.config = config
        self.source = source
        self.decisions = decisions
        self.thumbnails = Thumbnails(config)
        self.reviewer = reviewer_name(config)
        self.lock = Lock()  # the Kafka consumer and the caches below serve one thread at a time
        # Derived from the frame and the decisions, computed again only when either changes:
        self.frame = alert_pages.alert_frame([])
        self.by_id: dict[str, int] = {}  # alert_id -> row
        self.banks: list[str] = []
        self.verdicts_version: int | None = None
        self.state = alert_pages.states(self.frame, {})  # each row's decision state

    def refresh(self) -> None:
        with self.lock:
            frame = self.source.frame()
            version = self.decisions.version()
            if frame is self.frame and version == self.verdicts_version:
                return
            by_id, banks = self.by_id, self.banks
            if frame is not self.frame:
                by_id = {alert_id: i for i, alert_id in enumerate(frame["alert_id"])}
                banks = alert_pages.banks(frame)
            rows = standing(self.decisions.rows())
            state = alert_pages.states(frame, {pair: row["verdict"] for pair, row in rows.items()})
            # all at once: a thumbnail request reads frame and by_id without the lock
            self.frame, self.by_id, self.banks, self.state = frame, by_id, banks, state
            self.verdicts_version = version

    def alert(self, alert_id: str) -> pd.Series | None:
        """The alert of this id; the source is read again for an id the page has not seen yet."""
        if alert_id not in self.by_id:
            self.refresh()
        position = self.by_id.get(alert_id)
        return None if position is None else self.frame.iloc[position]

    def page(self, request: Request) -> Response:
        try:
            filters = alert_pages.Filters.parse(request.query_params)
        except ValueError as e:
            return PlainTextResponse(f"bad filter: {e}", status_code=400)
        self.refresh()
        size = self.config.review.page_size
        with self.lock:
            rows, total = alert_pages.select(self.frame, self.state, filters, size)
        context = {
            "mode": "alerts",
            "source": self.source.description,
            "reviewer": self.reviewer,
            "csrftoken": request.scope["csrftoken"](),
            "filters": filters,
            "states": alert_pages.STATES,
            "no_bank": alert_pages.NO_BANK,
            "banks": self.banks,
            "alerts": [card(row) for row in rows.to_dict("records")],
            "total": total,
            "pages": max(1, math.ceil(total / size)),
            "first": (filters.page - 1) * size,
            "px": self.config.review.thumbnail_px,
            "link": lambda page: "?" + urlencode(filters.query(page=page)),
        }
        return TEMPLATES.TemplateResponse(request, "alerts.html", context)

    def thumbnail(self, request: Request) -> Response:
        side = request.path_params["side"]
        alert = self.alert(request.path_params["alert_id"])
        if alert is None or side not in ("image", "match"):
            return PlainTextResponse("no such alert", status_code=404)
        uri = alert[f"{side}_uri"]
        if not isinstance(uri, str):
            return PlainTextResponse("the image was sent inline: no URI to show", status_code=404)
        return thumbnail_response(self.thumbnails, uri)

    async def decide(self, request: Request) -> Response:
        body = await json_body(request)
        alert = self.alert(str(body.get("alert_id")))
        verdict = body.get("verdict")
        if alert is None:
            return JSONResponse({"error": "no such alert"}, status_code=404)
        if verdict not in VERDICTS:
            return JSONResponse({"error": f"verdict must be one of {VERDICTS}"}, status_code=400)
        bank = (body.get("bank") or "").strip() or None if verdict == "duplicate" else None
        decision = Decision(
            alert["image_id"], alert["match_id"], verdict, self.reviewer, alert["alert_id"], bank
        )
        row = await run_in_threadpool(self.decisions.append, decision)
        return JSONResponse({"decision_id": row["decision_id"], "verdict": verdict, "bank": bank})

    async def undo(self, request: Request) -> Response:
        body = await json_body(request)
        wanted = str(body.get("decision_id"))
        rows = await run_in_threadpool(self.decisions.rows)
        if any(row["undoes"] == wanted for row in rows):
            return JSONResponse({"error": "already undone"}, status_code=409)
        taken = next(
            (r for r in rows if r["decision_id"] == wanted and r["verdict"] != "undo"), None
        )
        if taken is None:
            return JSONResponse({"error": "no such decision"}, status_code=404)
        undo = Decision(
            taken["image_id"],
            taken["match_id"],
            "undo",
            self.reviewer,
            taken["alert_id"],
            undoes=wanted,
        )
        row = await run_in_threadpool(self.decisions.append, undo)
        return JSONResponse({"decision_id": row["decision_id"], "undoes": wanted})


def thumbnail_response(thumbnails: Thumbnails, uri: str) -> Response:
    """The image's thumbnail as a cached JPEG, or 404 with the reason it cannot be read."""
    try:
        jpeg = thumbnails.jpeg(uri)
    except Rejected as e:
        return PlainTextResponse(f"{e.reason}: {e.message}", status_code=404)
    return Response(jpeg, media_type="image/jpeg", headers=THUMBNAIL_CACHING)


def card(row: Mapping[Hashable, Any]) -> dict[str, Any]:
    """A frame row as the template shows it: metas parsed, missing values as None."""
    shown = {str(key): (None if _missing(value) else value) for key, value in row.items()}
    for key in ("image_meta", "match_meta", "distances"):
        value = shown[key]
        shown[key] = None if value is None else json.loads(value)
    return shown


def _missing(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and math.isnan(value))
    )


class ClusterReview:
    """The state behind the clusters page of `neardup dedup DIR --review`."""

    def __init__(self, config: Config, clusters: list[Cluster], output: Path, title: str) -> None:
        self.config = config
        self.clusters = clusters
        self.output = output
        self.title = title
        self.thumbnails = Thumbnails(config)
        self.keep: dict[int, int | None] = {}  # cluster -> member kept (None: all kept)
        self.lock = Lock()

    def page(self, request: Request) -> Response:
        context = {
            "mode": "clusters",
            "title": self.title,
            "reviewer": reviewer_name(self.config),
            "csrftoken": request.scope["csrftoken"](),
            "clusters": self.clusters,
            "keep": self.keep,
            "output": self.output,
            "removals": removals(self.clusters, self.keep),
            "px": self.config.review.thumbnail_px,
        }
        return TEMPLATES.TemplateResponse(request, "clusters.html", context)

    def thumbnail(self, request: Request) -> Response:
        member = self.member(request.path_params["cluster"], request.path_params["member"])
        if member is None:
            return PlainTextResponse("no such image", status_code=404)
        return thumbnail_response(self.thumbnails, member)

    def member(self, cluster: int, member: int) -> str | None:
        if 0 <= cluster < len(self.clusters) and 0 <= member < len(self.clusters[cluster].members):
            return self.clusters[cluster].members[member].path
        return None

    async def choose(self, request: Request) -> Response:
        body = await json_body(request)
        cluster, kept = body.get("cluster"), body.get("keep")
        if not isinstance(cluster, int) or not 0 <= cluster < len(self.clusters):
            return JSONResponse({"error": "no such cluster"}, status_code=404)
        if kept is not None and self.member(cluster, kept) is None:
            return JSONResponse({"error": "no such member"}, status_code=400)
        listed = await run_in_threadpool(self.record, cluster, kept, body.get("undecide") is True)
        return JSONResponse({"cluster": cluster, "keep": kept, "removals": len(listed)})

    def record(self, cluster: int, kept: int | None, undecide: bool) -> list[str]:
        """Record a choice (or take it back) and rewrite the list of files to remove."""
        with self.lock:
            if undecide:
                self.keep.pop(cluster, None)
            else:
                self.keep[cluster] = kept
            listed = removals(self.clusters, self.keep)
            write_removals(listed, self.output)
        return listed

    def export(self, request: Request) -> Response:
        listed = removals(self.clusters, self.keep)
        return PlainTextResponse("".join(f"{path}\n" for path in listed))


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _app(
    routes: list[Route], config: Config, token: str | None, close: Callable[[], None]
) -> ASGIApp:
    """The routes behind the page's security; `close` runs when the server shuts down."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        close()

    static = Mount("/static", StaticFiles(packages=[("streaming.review", "static")]))
    posts = {route.path for route in routes if route.methods and "POST" in route.methods}
    app = Starlette(routes=[*routes, static], lifespan=lifespan)
    return secure(app, config.review.host, token, posts)


def alerts_app(
    config: Config,
    source: alert_pages.AlertSource,
    decisions: DecisionLog,
    token: str | None,
) -> ASGIApp:
    review = AlertReview(config, source, decisions)
    routes = [
        Route("/", review.page),
        Route("/thumb/{alert_id}/{side}", review.thumbnail),
        Route("/decisions", review.decide, methods=["POST"]),
        Route("/undo", review.undo, methods=["POST"]),
    ]

    def close() -> None:
        source.close()
        review.thumbnails.close()

    return _app(routes, config, token, close)


def clusters_app(
    config: Config, clusters: list[Cluster], output: Path, title: str, token: str | None
) -> ASGIApp:
    review = ClusterReview(config, clusters, output, title)
    routes: list[Route] = [
        Route("/", review.page),
        Route("/thumb/{cluster:int}/{member:int}", review.thumbnail),
        Route("/keep", review.choose, methods=["POST"]),
        Route("/remove.txt", review.export),
    ]
    return _app(routes, config, token, review.thumbnails.close)
