"""Pages in Chinese: the Jinja environment every page renders through, its shell-wide filters, and `render`.

The shell knows no domain. What a domain adds to every template — names of regions and industries, catalogue
categories, the credit report's formatting — it offers as filters and globals, and the application factory
hands them to `make_templates`. The navigation is the application's too: only it knows every page."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from xinyidai import __version__
from xinyidai.kit import clock
from xinyidai.kit.principal import USER_ROLES

TEMPLATES = resources.files("xinyidai.web") / "templates"

# One navigation entry: (path, label, the roles that see it).
NavEntry = tuple[str, str, set[str]]


def fmt_dt(v: datetime | str | None) -> str:
    """A moment as people here read it: Beijing time, to the second (ISO text, as files keep it, too)."""
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:
            return v
    return v.astimezone(clock.CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S") if v else ""


def fmt_int(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else ("" if v is None else str(v))


def mask_id(v: Any) -> str:
    """ID numbers on screen: region and last two characters only (GB/T 35273 minimisation)."""
    t = "" if v is None else str(v)
    return t[:6] + "*" * max(0, len(t) - 8) + t[-2:] if len(t) > 8 else "*" * len(t)


def nav_active(nav: Iterable[NavEntry], path: str, role: str | None) -> str | None:
    """The navigation entry a page belongs to: the longest one whose path prefixes it (so /bank/whitelists
    lights 白名单, not 授权企业 at /bank)."""
    best = None
    for href, _, roles in nav:
        if role in roles and (path == href or (href != "/" and path.startswith(href.rstrip("/") + "/"))) \
                and (best is None or len(href) > len(best)):
            best = href
    return best


def make_templates(nav: list[NavEntry], filters: Mapping[str, Callable[..., Any]],
                   globals_: Mapping[str, Any]) -> Jinja2Templates:
    """The environment: the shell's own filters and globals, then what the domains contribute."""
    t = Jinja2Templates(directory=str(TEMPLATES))
    t.env.filters.update(dt=fmt_dt, n=fmt_int, urlq=lambda v: quote(str(v)), mask_id=mask_id)
    t.env.filters.update(filters)
    t.env.globals.update(NAV=nav, ROLES=USER_ROLES, version=__version__,
                         nav_active=lambda path, role: nav_active(nav, path, role))
    t.env.globals.update(globals_)
    return t


def render(request: Request, template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """A page for this request: the template with who is acting, the CSRF token and the node's name."""
    n = request.app.state.node
    principal = getattr(request.state, "principal", None)
    ctx.update(request=request, principal=principal, csrf_token=getattr(request.state, "csrf_token", ""),
               node_name=n.settings.node_name, node_code=n.settings.node_code, catalog=n.catalog)
    return n.templates.TemplateResponse(request, template, ctx, status_code=status_code)


def no_store(resp: Response) -> Response:
    """Pages with an entity's data or the access log must not linger in a browser or proxy cache."""
    resp.headers["Cache-Control"] = "no-store"
    return resp
