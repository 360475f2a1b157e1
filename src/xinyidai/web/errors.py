"""One error shape for pages and API: `{"error": code, "message": 中文说明, "detail": …}`, never a stack trace.

An API caller gets it as JSON; a person's browser gets the same content as a page, and a page that needs a
log-in sends the browser to it."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from xinyidai.kit.errors import DomainError
from xinyidai.web.deps import LoginRequired, admit_before_validation, is_api
from xinyidai.web.templating import render

log = logging.getLogger(__name__)


def error_response(request: Request, status: int, body: dict[str, Any]) -> Response:
    if is_api(request) or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse(body, status_code=status)
    return render(request, "shell/error.html", status_code=status, error=body)


def login_redirect(request: Request) -> RedirectResponse:
    """A page that needs a log-in sends the browser to the log-in page, and back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(request)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        return error_response(request, exc.status, exc.to_dict())

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
        if isinstance(exc.detail, dict) and set(exc.detail) == {"error", "message", "detail"}:
            return error_response(request, exc.status_code, exc.detail)  # already in the one shape
        codes = {404: ("NOT_FOUND", "未找到所请求的页面或资源"), 405: ("METHOD_NOT_ALLOWED", "不支持该请求方法"),
                 413: ("PAYLOAD_TOO_LARGE", "上传内容过大")}
        code, msg = codes.get(exc.status_code, ("HTTP_ERROR", str(exc.detail)))
        return error_response(request, exc.status_code, {"error": code, "message": msg, "detail": None})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, {"error": "INTERNAL_ERROR",
                                             "message": "服务器内部错误，已记录，请稍后重试或联系平台运维人员",
                                             "detail": None})
