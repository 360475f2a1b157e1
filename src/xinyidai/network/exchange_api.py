"""JSON endpoints for what neighbouring nodes exchange besides records: quality feedback, reconciliation
(对账), banks' data needs and the 先立后破 cut. Thin: each handler calls a function of `exchange`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from xinyidai.entities.accounts import Principal
from xinyidai.network import exchange, runtime
from xinyidai.web.deps import db_session, node, require

router = APIRouter(prefix="/api/v1/network", tags=["节点网络"])
STAFF = ("operator", "security", "regulator")


class FeedbackIn(BaseModel):
    entity_code: str = Field(max_length=18)
    category: str = Field(max_length=40)
    record_key: str | None = Field(default=None, max_length=300)
    problem: str = Field(max_length=2000)


@router.post("/feedback", status_code=201, summary="就下级报送的记录提出质量问题（逐级反馈到数据来源节点）")
def raise_feedback(request: Request, body: FeedbackIn, p: Principal = Depends(require("operator")),
                   s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    note = exchange.raise_feedback(s, runtime.context(request.app), body.entity_code, body.category,
                                   body.record_key, body.problem, actor=p.username)
    return exchange.note_dict(note)


@router.get("/feedback", summary="质量反馈：本节点发出的与收到的")
def list_feedback(status: str | None = None, p: Principal = Depends(require(*STAFF)),
                  s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return {"items": exchange.list_feedback(s, status)}


class ReconcileIn(BaseModel):
    days: int = Field(default=7, ge=1, le=exchange.MAX_DAYS)
    peer: str | None = None
    force: bool = False


@router.post("/reconciliations", status_code=202, summary="向上级节点发起对账（结论异步返回，不一致自动重发）")
def start_reconciliation(request: Request, body: ReconcileIn, p: Principal = Depends(require("operator")),
                         s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return {"started": exchange.start_reconciliation(s, runtime.context(request.app), body.days, force=body.force,
                                                     peer_code=body.peer)}


@router.get("/reconciliations", summary="对账结果（按类别与日期）")
def list_reconciliations(peer: str | None = None, status: str | None = None, limit: int = 200,
                         p: Principal = Depends(require(*STAFF)), s: Session = Depends(db_session, scope="function")
                         ) -> dict[str, Any]:
    return {"items": exchange.list_reconciliations(s, peer, status, limit)}


class NeedIn(BaseModel):
    category: str = Field(max_length=40)
    items: list[str] = Field(min_length=1, max_length=200)
    reason: str = Field(max_length=2000)
    institution_code: str | None = Field(default=None, max_length=18)  # operators only; a bank files for itself


@router.post("/needs", status_code=201, summary="金融机构登记数据需求（所需类别、数据项与用途）")
def file_need(request: Request, body: NeedIn, p: Principal = Depends(require("bank", "operator")),
              s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    n = exchange.file_need(s, runtime.context(request.app), p, category=body.category, items=body.items,
                           reason=body.reason, institution_code=body.institution_code,
                           catalog=node(request).catalog)
    return exchange.need_doc(n)


@router.get("/needs", summary="数据需求登记簿：按类别与数据项统计")
def needs_register(category: str | None = None, p: Principal = Depends(require("bank", *STAFF)),
                   s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return exchange.needs_register(s, p, category)


class CutIn(BaseModel):
    reason: str = Field(default="先立后破：新路径对账一致，切断原直连", max_length=1000)
    force: bool = False


@router.post("/legacy/{code}/cut", summary="先立后破：两条路径对账一致后切断原直连通道（安全管理员）")
def cut_legacy(code: str, body: CutIn, p: Principal = Depends(require("security")),
               s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    from xinyidai.network import peers

    return peers.peer_dict(exchange.cut_legacy_path(s, p, code, body.reason, force=body.force))
