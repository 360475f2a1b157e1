"""JSON API for the information list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from xinyidai.catalog.render import catalog_as_dict
from xinyidai.kit.errors import NotFound
from xinyidai.kit.principal import Principal
from xinyidai.web.deps import node, require

router = APIRouter(prefix="/api/v1/catalog", tags=["信息清单"])


@router.get("", summary="信息清单（全部类别、字段、提供部门、共享方式）")
def get_catalog(request: Request, p: Principal = Depends(require())) -> dict[str, Any]:
    return catalog_as_dict(node(request).catalog)


@router.get("/{code}", summary="一个类别的信息清单")
def get_category(code: str, request: Request, p: Principal = Depends(require())) -> dict[str, Any]:
    for c in catalog_as_dict(node(request).catalog)["categories"]:
        if code in (c["code"], c["name"]):
            return c
    raise NotFound(f"信息清单中没有类别「{code}」", code="UNKNOWN_CATEGORY")
