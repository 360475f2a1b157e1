"""Refusals as the client raises them: the node's one error shape `{"error", "message", "detail"}` becomes
an `ApiError` carrying the code (for programs) and the Chinese message (for people)."""

from __future__ import annotations

from typing import Any

# The codes of request authentication (institutions/request_auth on the node): the credential or the
# signature, not the request's content, is what is wrong.
AUTH_CODES = frozenset({"API_KEY_INVALID", "CREDENTIAL_REVOKED", "CREDENTIAL_SUSPENDED", "CREDENTIAL_EXPIRED",
                        "INSTITUTION_SUSPENDED", "INSTITUTION_REVOKED", "SIGNATURE_INVALID", "REQUEST_EXPIRED",
                        "REQUEST_REPLAYED", "UNAUTHENTICATED"})


class ApiError(Exception):
    """The node refused a call (or could not be reached: status 0). `request_id` is the call's X-Request-Id,
    the same on every attempt, for tracing it on the node."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None, *,
                 request_id: str | None = None, attempts: int = 1) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.request_id = request_id
        self.attempts = attempts
        super().__init__(f"{status} {code}：{message}")


class AuthenticationFailed(ApiError):
    """The credential or the signature was refused (one of `AUTH_CODES`)."""


class RateLimited(ApiError):
    """Still 429 after every retry (`RATE_LIMITED`, or `AUTH_THROTTLED` for an address refused too often)."""


class Unavailable(ApiError):
    """Still 503, or the node could not be reached (status 0, code `CONNECTION_FAILED`), after every retry."""


def error_from(status: int, body: Any, *, reason: str = "", request_id: str | None = None,
               attempts: int = 1) -> ApiError:
    """The typed error for a refused response; a body not in the error shape still gives a code."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code, message, detail = body["error"], str(body.get("message") or ""), body.get("detail")
    else:
        code, message, detail = f"HTTP_{status}", reason or "节点返回了无法识别的错误", body
    cls = ApiError
    if code in AUTH_CODES:
        cls = AuthenticationFailed
    elif status == 429:
        cls = RateLimited
    elif status == 503:
        cls = Unavailable
    return cls(status, code, message, detail, request_id=request_id, attempts=attempts)
