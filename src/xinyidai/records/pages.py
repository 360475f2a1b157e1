"""Pages: the overview, deliveries and their reports (with live progress), the upload page, one entity's
records by category with version history, a record's history."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.accounts.colleagues import is_administrator
from xinyidai.accounts.people import name_of
from xinyidai.catalog import publication
from xinyidai.catalog.schema import Category
from xinyidai.entities import service as entities_service
from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError, Forbidden, NotFound
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.records import marks, service
from xinyidai.records.api import READERS
from xinyidai.records.models import DELIVERY_STATUSES
from xinyidai.records.submit import submit_upload
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import PageNo, PageSize, RowId
from xinyidai.web.templating import render

router = APIRouter(include_in_schema=False)


# Where a user who is not the platform's staff starts: their own work, not the province's statistics.
HOMES = {"bank": "/bank", "enterprise": "/my", "department": "/department"}


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, p: Principal = Depends(require()),
             s: Session = Depends(db_session, scope="function")) -> Response:
    """The province-wide operations statistics, for the platform's staff; a bank's or an enterprise's user is
    sent to their own home (every log-in lands here first)."""
    if p.role in HOMES:
        return RedirectResponse(HOMES[p.role], status_code=303)
    if p.role not in STAFF:
        raise Forbidden(f"当前角色（{p.role_label}）无权访问此功能", code="ROLE_FORBIDDEN")
    stats = service.overview_stats(s, node(request).catalog)
    recent = service.list_deliveries(s, PageRequest(1, 8, "id", True)).items
    return render(request, "records/overview.html", stats=stats, recent=recent)


@router.get("/entities/{code}", response_class=HTMLResponse)
def entity_page(code: str, request: Request, category: str | None = None, history: bool = False,
                p: Principal = Depends(require()), s: Session = Depends(db_session, scope="function")) -> Response:
    entities_service.may_view_entity(p, code)
    e = entities_service.get_entity(s, code)
    counts = service.entity_category_counts(s, e.code)
    catalog = node(request).catalog
    if category is None:
        category = next((c.code for c in catalog.categories if counts.get(c.code)), catalog.categories[0].code)
    try:
        cat = catalog.category(category)
    except KeyError:
        raise NotFound(f"信息清单中没有类别「{category}」", code="UNKNOWN_CATEGORY") from None
    rows = service.entity_records(s, e.code, cat.code, include_history=history)
    records = _with_standing(s, p, cat, [service.record_dict(r) for r in rows])
    return render(request, "records/entity.html", entity=e, info=entities_service.entity_dict(e), counts=counts,
                  cat=cat, records=records, history=history)


def _with_standing(s: Session, p: Principal, cat: Category, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record with what stands on it, for the enterprise and the operator alike: its live marks
    (异议处理中 / 存在异议, one query), its publication window and state today (公示中至 … / 停止公示, with
    the rule it rests on), and — for the enterprise's administrator, on a current record — where to object
    or, once the minimum period has passed, to apply for credit repair."""
    if not records:
        return records
    live = marks.live_for(s, records[0]["entity_code"], [cat.code])
    today = clock.today()
    admin = p.role == "enterprise" and is_administrator(s, p)
    for r in records:
        r["marks"] = live.get((cat.code, r["record_key"]), []) if r["status"] == "current" else []
        w = publication.window(cat, r["content"])
        r["window"] = w
        r["window_state"] = window_label(w, today) if w else None
        r["window_public"] = w.public_on(today) if w else None
        current = r["status"] == "current"
        pending = any(m.kind == "objection" for m in r["marks"])  # one objection at a time
        r["object_url"] = f"/my/objections/new?record={r['id']}" if admin and current and not pending else None
        r["repair_url"] = (f"/my/repairs/new?record={r['id']}"
                           if admin and current and w is not None and w.may_repair_on(today) else None)
    return records


def window_label(w: publication.Window, day: date) -> str:
    """公示中至 YYYY-MM-DD, or why it is no longer published."""
    state = w.state(day)
    return f"公示中至 {w.ends.isoformat()}" if state == "public" else publication.STATE_LABELS[state]


@router.get("/deliveries", response_class=HTMLResponse)
def deliveries(request: Request, page: PageNo = 1, size: PageSize = 20, sort: str | None = None,
               desc: bool = True, status: str = "", category: str = "",
               p: Principal = Depends(require(*READERS)), s: Session = Depends(db_session, scope="function")) -> Response:
    result = service.list_deliveries(s, PageRequest(page, size, sort, desc), status=status or None,
                                     category=category or None, catalog=node(request).catalog)
    return render(request, "records/deliveries.html", page=result, status=status, category=category,
                  statuses=DELIVERY_STATUSES)


@router.get("/deliveries/{delivery_id}", response_class=HTMLResponse)
def delivery_report(delivery_id: RowId, request: Request, page: PageNo = 1, sort: str | None = None,
                    desc: bool = False, p: Principal = Depends(require(*READERS)),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    d = service.get_delivery(s, delivery_id)
    issues = service.delivery_issues(s, delivery_id, PageRequest(page, 50, sort, desc))
    return render(request, "records/delivery.html", d=d, issues=issues,
                  submitter=name_of(s, d.submitted_by))


@router.get("/deliveries/{delivery_id}/progress", response_class=HTMLResponse)
def delivery_progress(delivery_id: RowId, request: Request, p: Principal = Depends(require(*READERS)),
                      s: Session = Depends(db_session, scope="function")) -> Response:
    d = service.get_delivery(s, delivery_id)
    resp = render(request, "records/_progress.html", d=d)
    if d.status != "processing":
        resp.headers["HX-Refresh"] = "true"  # reload once, so the finished report shows in full
    return resp


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, p: Principal = Depends(require("operator"))) -> Response:
    return render(request, "records/upload.html", error=None)


@router.post("/upload")
async def upload(request: Request, file: UploadFile = File(...), category: str = Form(...),
                 provider: str = Form(...), threshold: float = Form(20.0),
                 p: Principal = Depends(require("operator"))) -> Response:
    try:
        d, _job = await submit_upload(node(request), p, file, category=category, provider=provider,
                                      threshold=threshold / 100.0, source="upload")
    except DomainError as exc:
        return render(request, "records/upload.html", status_code=exc.status, error=exc.message,
                      provider=provider, category=category)
    return RedirectResponse(f"/deliveries/{d.id}", status_code=303)


@router.get("/records/{record_id}/history", response_class=HTMLResponse)
def record_history(record_id: RowId, request: Request, p: Principal = Depends(require()),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    versions = service.record_history(s, record_id)
    entities_service.may_view_entity(p, versions[0].entity_code)
    cat = node(request).catalog.category(versions[0].category)
    # `received` stays a datetime, so the page shows it in Beijing time as every other page does.
    shown = _with_standing(s, p, cat, [{**service.record_dict(v), "received": v.received_at} for v in versions])
    return render(request, "records/history.html", versions=shown, cat=cat)
