"""One error shape for pages and API: `{"error": code, "message": 中文说明, "detail": …}`, never a stack trace.

An API caller gets it as JSON; a person's browser gets the same content as a page, and a page that needs a
log-in sends the browser to it. The OpenAPI document declares the shape (`ErrorBody`) for every error
status the API answers with (`ERROR_RESPONSES`), and a 405 names the methods the path does allow."""

from __future__ import annotations

import logging
import math
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from xinyidai.kit import logs
from xinyidai.kit.errors import DomainError
from xinyidai.web.deps import LoginRequired, admit_before_validation, is_api
from xinyidai.web.templating import render

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """统一错误格式：程序按 error 判断，人读 message。"""

    error: str = Field(description="错误代码（供程序判断），如 UNAUTHENTICATED、INVALID_INPUT", examples=["NOT_FOUND"])
    message: str = Field(description="中文说明（供人阅读）", examples=["未找到所请求的内容"])
    detail: Any = Field(description="补充信息：输入不符合要求时为逐项原因 [{field, message}]，其余视错误而定，"
                                    "可为 null")


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Every error an API route may answer with, in the one shape. Declared for every route (the application
# factory passes it to FastAPI): which of them a given call meets depends on who calls and with what.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("请求无法处理（见 error 与 message）"),
    401: _error("未登录、会话已过期，或接口凭证无效"),
    403: _error("无权执行（角色、授权范围、机构状态或 CSRF 校验）"),
    404: _error("未找到所请求的内容"),
    409: _error("与已有数据冲突"),
    413: _error("请求内容超过该接口的上限"),
    422: _error("输入不符合要求（detail 逐项说明）"),
    429: _error("请求过于频繁，请稍后再试"),
}


def error_response(request: Request, status: int, body: dict[str, Any],
                   headers: dict[str, str] | None = None) -> Response:
    if is_api(request) or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse(body, status_code=status, headers=headers)
    page = render(request, "shell/error.html", status_code=status, error=body)
    page.headers.update(headers or {})
    return page


def retry_after(exc: DomainError) -> dict[str, str] | None:
    """A 429 that knows its wait (`detail.retry_after`, seconds) says it in the standard header too, which
    clients and proxies honour without reading the body."""
    wait = exc.detail.get("retry_after") if exc.status == 429 and isinstance(exc.detail, dict) else None
    return {"Retry-After": str(math.ceil(wait))} if isinstance(wait, int | float) and wait > 0 else None


def login_redirect(request: Request) -> RedirectResponse:
    """A page that needs a log-in sends the browser to the log-in page, and back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path. Starlette's own 405 names only the first route that
    matched the path, though GET and POST of one path are often two routes."""
    methods: set[str] = set()
    scope = {**request.scope, "method": "GET"}
    for ctx in iter_route_contexts(request.app.routes):
        route_methods = ctx.methods
        if route_methods and getattr(ctx, "path_regex", None) is not None:
            match, _ = ctx.matches(scope)
            if match is not Match.NONE:
                methods |= set(route_methods)
    return sorted(methods)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(request)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        return error_response(request, exc.status, exc.to_dict(), retry_after(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        try:  # who is asking comes first: how the input failed is for an admitted caller only
            await admit_before_validation(request)
        except LoginRequired:
            return login_redirect(request)
        except DomainError as refusal:
            return error_response(request, refusal.status, refusal.to_dict())
        detail = [{"field": ".".join(str(p) for p in e.get("loc", ())[1:]), "message": e.get("msg")}
                  for e in exc.errors()]
        return error_response(request, 422, {"error": "INVALID_INPUT", "message": "请求参数不符合要求",
                                             "detail": detail})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        if isinstance(exc.detail, dict) and set(exc.detail) == {"error", "message", "detail"}:
            return error_response(request, exc.status_code, exc.detail, headers)  # already in the one shape
        codes = {404: ("NOT_FOUND", "未找到所请求的页面或资源"), 405: ("METHOD_NOT_ALLOWED", "不支持该请求方法"),
                 413: ("PAYLOAD_TOO_LARGE", "上传内容过大")}
        code, msg = codes.get(exc.status_code, ("HTTP_ERROR", str(exc.detail)))
        return error_response(request, exc.status_code, {"error": code, "message": msg, "detail": None}, headers)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> Response:
        if "NUL" in str(exc.orig):  # text with a NUL character, in a body or a form: PostgreSQL stores none
            return error_response(request, 422, {"error": "INVALID_INPUT",
                                                 "message": "输入的文字含有空字符（NUL），请去掉后重试", "detail": None})
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        # Sent from outside every middleware (Starlette's ServerErrorMiddleware): name the request here.
        bound = logs.current_request()
        return error_response(request, 500, {"error": "INTERNAL_ERROR",
                                             "message": "服务器内部错误，已记录，请稍后重试或联系平台运维人员",
                                             "detail": None},
                              {"X-Request-Id": bound.request_id} if bound else None)
