"""Forms posted by people not logged in (real-name registration, a migrated account's activation) have no
session to carry a CSRF token, so the page sets one in a strict same-site cookie and the form echoes it back
(double submit). Each flow names its own cookie, so two flows open side by side do not spoil each other."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from xinyidai.kit.errors import Forbidden
from xinyidai.web.templating import render


@dataclass(frozen=True)
class FormToken:
    cookie: str
    max_age: int = 1800

    def render(self, request: Request, template: str, status_code: int = 200, **ctx: Any) -> Response:
        """The page with a fresh token in its form (`form_csrf`) and in the cookie; never cached."""
        token = secrets.token_urlsafe(24)
        resp = render(request, template, status_code=status_code, form_csrf=token, **ctx)
        resp.set_cookie(self.cookie, token, httponly=True, samesite="strict", max_age=self.max_age,
                        secure=request.url.scheme == "https")
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def check(self, request: Request, given: str) -> None:
        cookie = request.cookies.get(self.cookie, "")
        if not cookie or not given or not hmac.compare_digest(cookie, given):
            raise Forbidden("页面已过期，请刷新后重试", code="CSRF_FAILED")
