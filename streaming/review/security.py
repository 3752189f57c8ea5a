"""What keeps the review page to the people it is for: a loopback bind by default, a token for any
other, CSRF protection on every POST (asgi-csrf's signed double-submit cookie) and a Host check
against DNS rebinding.

The token travels once in the URL printed at start; the page then sets an HttpOnly, SameSite=Strict
cookie and redirects to the same URL without it. Scripts can send `Authorization: Bearer TOKEN`.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlencode

from asgi_csrf import asgi_csrf
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "neardup_review"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# Decisions are a few hundred bytes of JSON; anything far larger is not a request of the page.
MAX_BODY_BYTES = 1 << 16


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def access_token(configured: str | None, host: str) -> str | None:
    """The token the page requires: the configured one, else a fresh one unless it binds to a
    loopback address only."""
    if configured:
        return configured
    return None if is_loopback(host) else secrets.token_urlsafe(24)


class TokenGate:
    """Refuses every request without the token (401), when there is one."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self._valid(request.cookies.get(TOKEN_COOKIE)) or self._valid(bearer):
            await self.app(scope, receive, send)
            return
        if request.method == "GET" and self._valid(request.query_params.get("token")):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        refusal = PlainTextResponse(
            "This review page needs its access token: open the URL `neardup review` printed "
            "(…/?token=…), or send Authorization: Bearer TOKEN.",
            status_code=401,
        )
        await refusal(scope, receive, send)

    def _valid(self, presented: str | None) -> bool:
        assert self.token is not None
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.token.encode())


class WholeBody:
    """Reads a request's whole body before the app answers: a refusal sent while the client is
    still sending makes the kernel reset the connection, and the client never sees the answer."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if sum(map(len, chunks)) > self.limit:
                await PlainTextResponse("request body too large", status_code=413)(
                    scope, receive, send
                )
                return
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


def secure(app: ASGIApp, host: str, token: str | None, post_paths: set[str]) -> ASGIApp:
    """The app behind the Host check, the token gate and CSRF protection of its POST paths (even
    from a client without cookies: a cross-site form sends none under SameSite)."""
    protected = asgi_csrf(
        app,
        signing_secret=secrets.token_urlsafe(32),
        always_protect=post_paths,
        cookie_samesite="Strict",
    )
    gated = TokenGate(protected, token)
    # A page on loopback without a token must not answer a name that a foreign site resolved to
    # 127.0.0.1 (DNS rebinding); with a token, any name may reach it.
    allowed = [*LOOPBACK_NAMES, "[::1]", host] if token is None else ["*"]
    return WholeBody(TrustedHostMiddleware(gated, allowed_hosts=allowed))
