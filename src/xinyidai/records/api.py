"""JSON API: deliveries (submit, status, report), an entity's records (history, withdrawal, correction), and
the overview's figures."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from xinyidai.entities import service as entities_service
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.records import service
from xinyidai.records.schemas import CorrectIn, WithdrawIn
from xinyidai.records.submit import submit_upload
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.openapi import CSV, download
from xinyidai.web.params import PageNo, PageSize, RowId

router = APIRouter(prefix="/api/v1", tags=["数据报送与信用记录"])
READERS = ("operator", "regulator")


@router.get("/deliveries", summary="交付批次列表")
def list_deliveries(page: PageNo = 1, size: PageSize = 20, sort: str | None = None, desc: bool = True,
                    status: str | None = None, category: str | None = None, provider: str | None = None,
                    p: Principal = Depends(require(*READERS)), s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    result = service.list_deliveries(s, PageRequest(page, size, sort, desc), status=status, category=category,
                                     provider=provider)
    return result.as_dict([service.delivery_dict(d) for d in result.items])


@router.post("/deliveries", status_code=202, summary="报送一个数据文件（CSV / JSON Lines / XLSX）",
             responses={200: {"description": "同一文件此前已报送（未产生任何变更），或 wait=true 时已处理完成",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
             description="文件在后台校验入库，返回交付批次；用 GET /api/v1/deliveries/{id} 查看进度与结果。"
                         "wait=true 时等待处理完成再返回。同一文件重复报送不会产生任何变更。")
async def submit(request: Request, file: UploadFile = File(...), category: str = Form(..., min_length=1),
                 provider: str = Form(..., min_length=1), threshold: float | None = Form(None), wait: bool = Query(False),
                 p: Principal = Depends(require("operator"))) -> JSONResponse:
    n = node(request)
    d, job = await submit_upload(n, p, file, category=category, provider=provider, threshold=threshold,
                                 source="api")
    if job is not None and wait:
        import asyncio
        await asyncio.wrap_future(job)
    with n.db.session() as s:
        d = service.get_delivery(s, d.id)
        body = service.delivery_dict(d)
    status = 200 if (job is None or wait) else 202
    return JSONResponse(body, status_code=status, headers={"Location": f"/api/v1/deliveries/{d.id}"})


@router.get("/deliveries/{delivery_id}", summary="交付批次的状态、进度与统计")
def get_delivery(delivery_id: RowId, p: Principal = Depends(require(*READERS)),
                 s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return service.delivery_dict(service.get_delivery(s, delivery_id))


@router.get("/deliveries/{delivery_id}/issues", summary="交付批次的问题清单（拒收行及原因）")
def get_issues(delivery_id: RowId, page: PageNo = 1, size: PageSize = 50, sort: str | None = None,
               desc: bool = False, severity: str | None = None, p: Principal = Depends(require(*READERS)),
               s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    service.get_delivery(s, delivery_id)
    result = service.delivery_issues(s, delivery_id, PageRequest(page, size, sort, desc), severity)
    return result.as_dict([service.issue_dict(i) for i in result.items])


@router.get("/deliveries/{delivery_id}/issues.csv", summary="下载问题清单（CSV，Excel 可直接打开）",
            response_class=Response, responses=download(CSV, "问题清单 CSV（UTF-8，带 BOM）"))
def issues_csv(delivery_id: RowId, request: Request, p: Principal = Depends(require(*READERS))) -> StreamingResponse:
    n = node(request)

    def stream():  # noqa: ANN202 - its own session, since the response outlives the request's
        with n.db.session() as s:
            yield from service.issues_csv(s, delivery_id)

    with n.db.session() as s:
        service.get_delivery(s, delivery_id)
    return StreamingResponse(stream(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=delivery-{delivery_id}-issues.csv"})


@router.get("/records/{record_id}/history", summary="一条记录的全部版本")
def history(record_id: RowId, p: Principal = Depends(require()), s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    versions = service.record_history(s, record_id)
    entities_service.may_view_entity(p, versions[0].entity_code)
    return {"items": [service.record_dict(r) for r in versions]}


@router.post("/records/{record_id}/withdraw", summary="撤回一条记录（历史保留）")
def withdraw(record_id: RowId, body: WithdrawIn, p: Principal = Depends(require("operator")),
             s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return service.record_dict(service.withdraw_record(s, record_id, actor=p.username, reason=body.reason))


@router.post("/records/{record_id}/correct", summary="更正一条记录（生成新版本，旧版本保留）")
def correct(record_id: RowId, body: CorrectIn, request: Request, p: Principal = Depends(require("operator")),
            s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    new = service.correct_record(s, node(request).catalog, record_id, body.changes, actor=p.username,
                                 reason=body.reason)
    return service.record_dict(new)


@router.get("/stats/overview", tags=["统计"], summary="数据概览：主体、记录、交付批次的分布（平台工作人员）")
def overview_api(request: Request, p: Principal = Depends(require(*STAFF)),
                 s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return service.overview_stats(s, node(request).catalog)


@router.get("/entities/{code}", tags=["市场主体"], summary="一个市场主体的登记信息与各类记录数")
def get_one(code: str, p: Principal = Depends(require()), s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    entities_service.may_view_entity(p, code)
    e = entities_service.get_entity(s, code)
    return {**entities_service.entity_dict(e), "record_counts": service.entity_category_counts(s, e.code)}


@router.get("/entities/{code}/records", tags=["市场主体"], summary="一个市场主体的信用记录（可含历史版本）")
def records(code: str, request: Request, category: str | None = None, history: bool = False,
            p: Principal = Depends(require()), s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    entities_service.may_view_entity(p, code)
    e = entities_service.get_entity(s, code)
    rows = service.entity_records(s, e.code, category, include_history=history)
    return {"entity_code": e.code, "items": [service.record_dict(r) for r in rows]}
