"""The information list page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from xinyidai.catalog.render import TYPE_LABELS, value_range
from xinyidai.kit.principal import Principal
from xinyidai.web.deps import require
from xinyidai.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/catalog", response_class=HTMLResponse)
def catalog_page(request: Request, category: str | None = None, p: Principal = Depends(require())) -> Response:
    return render(request, "catalog/catalog.html", selected=category, type_labels=TYPE_LABELS,
                  value_range=value_range)
