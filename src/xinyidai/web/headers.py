"""Security headers on every response, as a plain ASGI middleware.

Starlette's `@app.middleware("http")` (BaseHTTPMiddleware) runs each response through an extra task and
memory stream; measured on the authorized-profile path it cost a fifth of the throughput. This one only
edits the header list of `http.response.start` on its way out."""

from __future__ import annotations

from typing import Any

NO_STORE_PREFIXES = ("/api/", "/deliveries", "/entities", "/my", "/audit", "/institutions", "/register",
                     "/network", "/credit", "/reports", "/bank", "/whitelists", "/keyprojects")


class SecurityHeaders:
    def __init__(self, app: Any, csp: str) -> None:
        self.app = app
        self.base = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                     (b"referrer-policy", b"same-origin")]
        self.csp = (b"content-security-policy", csp.encode("latin-1"))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = list(self.base)
        if not path.startswith("/docs"):
            extra.append(self.csp)
        if path.startswith(NO_STORE_PREFIXES):
            extra.append((b"cache-control", b"no-store"))

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
