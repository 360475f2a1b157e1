"""Request bodies: how large each route takes, and none at all from a caller who names no one.

A plain ASGI middleware (as `headers.py`, for the same reason: no extra task per request). Before the app
sees a request it

1. refuses a POST (PUT, PATCH, DELETE) to a route that needs a logged-in user or an institution's credential
   when the request carries neither a session cookie nor credential headers — 401 for the API, the log-in
   page for a page, what the route's own dependency would answer, but before the body is parsed (so before
   it could be validated and the errors shown): a declared body up to 1 MB is read and dropped first, so a
   proxy in front is not reset mid-body; a larger or chunked one is not read at all;
2. refuses a declared `Content-Length` above the route's limit with 413, also unread;
3. counts the bytes as the app reads them and cuts off a body (chunked, or longer than declared) that passes
   the limit with 413 in the one error shape.

These are cheap checks on headers. Who the cookie or credential belongs to is still decided by the route's
dependency (`web.deps`); a body that reaches it has passed its limit. A refusal sent while the body is still
coming closes the connection, so the server neither reads nor waits for the rest.

The limits are data (`BodyRule`, first match by path prefix) that the application factory builds from the
configuration and the domains' own limits; the shell knows no route.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.requests import Request, cookie_parser

from xinyidai.web.deps import SESSION_COOKIE, is_api
from xinyidai.web.errors import error_response, login_redirect

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A body up to this size, from a caller who names no one, is read and dropped before the refusal (see _drain);
# a larger one is refused unread, and the connection closed.
DRAIN_MAX = 1 << 20


@dataclass(frozen=True)
class BodyRule:
    """The body a group of routes takes. `prefix` matches the path itself and everything below it."""

    prefix: str
    max_bytes: int
    # No credential is needed before the body is read: the route takes none (log-in, registration, report
    # verification) or authenticates by what the body carries (a peer's signed envelope or application).
    public: bool = False
    # How a refusal names what was too large, where the route's callers already know a code of its own.
    code: str = "PAYLOAD_TOO_LARGE"
    what: str = "请求内容"

    def matches(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.below)

    @property
    def below(self) -> str:
        return self.prefix.rstrip("/") + "/"


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a body passes its limit. A FastAPI HTTPException, so that a route parsing
    the body lets it through (instead of calling it a malformed body), and the shell's handler answers it in
    the one error shape."""

    def __init__(self, rule: BodyRule) -> None:
        super().__init__(413, detail=too_large(rule))


def too_large(rule: BodyRule) -> dict[str, Any]:
    return {"error": rule.code, "message": f"{rule.what}超过 {_size(rule.max_bytes)} 上限，请缩小后重试",
            "detail": {"max_bytes": rule.max_bytes}}


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MB" if n >= 1 << 20 else f"{n / 1024:g} KB"


class BodyLimits:
    def __init__(self, app: Any, rules: Sequence[BodyRule],
                 carries_credentials: Callable[[Mapping[str, str]], bool]) -> None:
        if not rules or rules[-1].prefix != "/":
            raise ValueError("the last body rule must be the default for every path ('/')")
        self.app = app
        self.rules = tuple(rules)
        self._match = tuple((r.prefix, r.below, r) for r in self.rules)  # every request looks here
        self.carries_credentials = carries_credentials

    def rule_for(self, path: str) -> BodyRule:
        for exact, below, rule in self._match:
            if path == exact or path.startswith(below):
                return rule
        raise AssertionError("the last rule matches every path")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _has_nul(scope):
            await self._refuse(scope, send, nul=True, pending=False)
            return
        rule = self.rule_for(scope["path"])
        declared, chunked = _framing(scope["headers"])
        has_body = chunked or (declared or 0) > 0
        if scope["method"] not in SAFE_METHODS and not rule.public \
                and not self._names_someone(scope["path"], Headers(scope=scope)):
            small = declared is not None and not chunked and declared <= min(rule.max_bytes, DRAIN_MAX)
            if small and has_body:
                await _drain(receive)
            await self._refuse(scope, send, pending=has_body and not small)
            return
        if declared is not None and declared > rule.max_bytes:
            await self._refuse(scope, send, too_large_for=rule, pending=True)
            return
        if not has_body:  # neither a length nor chunks: HTTP/1.1 says there is no body to count
            await self.app(scope, receive, send)
            return
        await self._run(scope, receive, send, rule)

    def _names_someone(self, path: str, headers: Headers) -> bool:
        """A session cookie, or on the API an institution's credential headers (checked later, not here)."""
        if cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE):
            return True
        return path.startswith("/api/") and self.carries_credentials(headers)

    async def _run(self, scope: dict[str, Any], receive: Any, send: Any, rule: BodyRule) -> None:
        received = 0
        done = False
        started = False

        async def counted() -> dict[str, Any]:
            nonlocal received, done
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                done = not message.get("more_body", False)
                if received > rule.max_bytes:
                    raise BodyTooLarge(rule)
            return message

        async def closing(message: dict[str, Any]) -> None:
            # An answer given before the body has all arrived (a refusal, mostly) ends the connection: the
            # server would otherwise read, and wait for, the rest before the next request.
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if not done:
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counted, closing)
        except BodyTooLarge:
            # Raised where no route handled it (a body read outside a route's own parsing).
            if started:
                raise
            await self._refuse(scope, send, too_large_for=rule, pending=True)

    async def _refuse(self, scope: dict[str, Any], send: Any, *, too_large_for: BodyRule | None = None,
                      pending: bool, nul: bool = False) -> None:
        """Answers without the application: 422 for a NUL character in the address, 413 when `too_large_for`
        names the rule passed, else what the route's dependency answers a caller who names no one."""
        request = Request(scope)
        if nul:
            response = error_response(request, 422, {"error": "INVALID_INPUT",
                                                     "message": "请求地址或参数含有空字符（NUL），请去掉后重试",
                                                     "detail": None})
        elif too_large_for is not None:
            response = error_response(request, 413, too_large(too_large_for))
        elif is_api(request):
            response = error_response(request, 401, {"error": "UNAUTHENTICATED", "message": "请先登录",
                                                     "detail": None})
        else:
            response = login_redirect(request)
        if pending:
            response.headers["connection"] = "close"

        async def no_body() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        await response(scope, no_body, send)


async def _drain(receive: Any) -> None:
    """Read a small body and drop it, unparsed. Answering before it is read would close the connection with
    bytes unread, which the kernel turns into a reset: a reverse proxy still sending the body (nginx in
    front, deploy/nginx) then answers its client 502 instead of the node's refusal."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def _has_nul(scope: dict[str, Any]) -> bool:
    """A NUL character in the path or the query: no text the platform stores may hold one (PostgreSQL refuses
    it, which would otherwise surface as a server error deep in a query)."""
    query: bytes = scope.get("query_string") or b""
    return "\x00" in scope["path"] or b"%00" in query or b"\x00" in query


def _framing(raw: list[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """The declared Content-Length (None when absent) and whether the body comes chunked, from the raw
    header list (ASGI names are lower case) without building a Headers per request."""
    declared, chunked = None, False
    for name, value in raw:
        if name == b"content-length":
            try:
                declared = max(0, int(value))
            except ValueError:
                declared = None  # the HTTP server refuses a malformed length before the app sees it
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    return declared, chunked
