"""Typed domain errors and the one error shape every HTTP response uses.

`{"error": CODE, "message": 中文说明, "detail": …}` — codes are for programs, messages for people.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "DOMAIN_ERROR"
    status = 400
    message = "请求无法处理"

    def __init__(self, message: str | None = None, *, detail: Any = None, code: str | None = None) -> None:
        self.message = message or type(self).message
        self.detail = detail
        if code:
            self.code = code
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "detail": self.detail}


class NotFound(DomainError):
    code = "NOT_FOUND"
    status = 404
    message = "未找到所请求的内容"


class InvalidInput(DomainError):
    code = "INVALID_INPUT"
    status = 422
    message = "输入不符合要求"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"
    status = 401
    message = "请先登录"


class Forbidden(DomainError):
    code = "FORBIDDEN"
    status = 403
    message = "无权执行此操作"


class Conflict(DomainError):
    code = "CONFLICT"
    status = 409
    message = "与已有数据冲突"


class TooManyRequests(DomainError):
    code = "RATE_LIMITED"
    status = 429
    message = "请求过于频繁，请稍后再试"
