"""Pages of the data sources: the list (state, last success, why a failing one fails, next attempt) with the form
that adds one, and one source with its pulls (paged, each linking to its delivery) and the buttons 立即拉取 / 暂停 /
恢复 / 重置水位. Operators write; regulators and security officers read. URLs are shown masked.

Writes are POST → redirect → GET with a `done` key; a refused form comes back as typed with the refusal."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.kit.errors import DomainError, InvalidInput
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.quality import sources
from xinyidai.quality.connectors import mask_url
from xinyidai.quality.models import PULL_STATUSES, SOURCE_KINDS, SOURCE_STATES, Department, Source
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import PageNo, PageSize
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
READ = require(*STAFF)
WRITE = require("operator")
DONE = {"added": "数据来源已登记，将在下一轮定时任务中首次拉取。", "pulled": "已拉取，结果见下方拉取记录。",
        "paused": "已暂停定时拉取。", "resumed": "已恢复定时拉取，并安排立即拉取一次。", "reset": "水位已重置，并安排立即拉取一次。"}
SORTS = {"name": Source.name, "state": Source.state, "last_success": Source.last_success_at,
         "next_attempt": Source.next_attempt_at, "department": Source.department}
STATE_TONES = {"new": "", "ok": "au-active", "failing": "au-revoked", "paused": ""}
_PAIR = re.compile(r"^\s*([^=:：]+?)\s*[=:：]\s*(\S+)\s*$")


@dataclass
class SourceForm:
    name: str = ""
    kind: str = "database"
    department: str = ""
    category: str = ""
    url: str = ""
    secret_ref: str = ""
    target: str = ""
    mapping: str = ""
    watermark_column: str = ""
    every_minutes: str = "1440"
    batch_rows: str = "50000"

    def spec(self) -> sources.SourceSpec:
        try:
            every, batch = int(self.every_minutes), int(self.batch_rows)
        except ValueError:
            raise InvalidInput("拉取间隔和每批行数须为整数", code="BAD_SCHEDULE") from None
        return sources.SourceSpec.from_dict({
            "name": self.name.strip(), "kind": self.kind, "department": self.department, "category": self.category,
            "url": self.url.strip(), "secret_ref": self.secret_ref.strip() or None, "target": self.target,
            "mapping": parse_mapping(self.mapping), "watermark_column": self.watermark_column,
            "every_minutes": every, "batch_rows": batch})


def parse_mapping(raw: str) -> dict[str, str]:
    """A JSON object, or one `来源列 = 字段代码` a line."""
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            found = json.loads(raw)
        except ValueError:
            raise InvalidInput("字段映射的 JSON 格式不正确", code="BAD_MAPPING") from None
        if not isinstance(found, dict):
            raise InvalidInput("字段映射须为 {来源列: 字段代码}", code="BAD_MAPPING")
        return found
    out: dict[str, str] = {}
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        m = _PAIR.match(line)
        if not m:
            raise InvalidInput(f"字段映射第 {n} 行应为「来源列 = 字段代码」", code="BAD_MAPPING")
        out[m.group(1)] = m.group(2)
    return out


def source_form(name: str = Form(""), kind: str = Form("database"), department: str = Form(""),
                category: str = Form(""), url: str = Form(""), secret_ref: str = Form(""), target: str = Form(""),
                mapping: str = Form(""), watermark_column: str = Form(""), every_minutes: str = Form("1440"),
                batch_rows: str = Form("50000")) -> SourceForm:
    return SourceForm(name, kind, department, category, url, secret_ref, target, mapping, watermark_column,
                      every_minutes, batch_rows)


def _labels() -> dict[str, Any]:
    return {"kinds": SOURCE_KINDS, "states": SOURCE_STATES, "pull_statuses": PULL_STATUSES, "tones": STATE_TONES,
            "mask_url": mask_url}


def _list(request: Request, s: Session, p: Principal, req: PageRequest, *, form: SourceForm | None = None,
          error: DomainError | None = None, done: str | None = None) -> Response:
    result: Page = paginate(s, select(Source), req, SORTS, "name")
    depts = list(s.execute(select(Department.code, Department.name).order_by(Department.code)).all())
    cats = [(c.code, c.name) for c in node(request).catalog.categories]
    return no_store(render(request, "quality/sources.html", status_code=error.status if error else 200,
                           page=result, params="", departments=depts, dept_names=dict(depts), categories=cats,
                           form=form or SourceForm(), error=error, done=done, may_write=p.role == "operator",
                           **_labels()))


@router.get("/quality/sources", response_class=HTMLResponse)
def sources_page(request: Request, page: PageNo = 1, size: PageSize = 20, sort: str | None = None,
                 desc: bool = False, done: str = "", p: Principal = Depends(READ),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    return _list(request, s, p, PageRequest(page, size, sort, desc), done=DONE.get(done))


@router.post("/quality/sources", response_class=HTMLResponse)
def add_source(request: Request, form: SourceForm = Depends(source_form), p: Principal = Depends(WRITE),
               s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        src = sources.add_source(s, node(request).catalog, form.spec(), p.username)
    except DomainError as exc:
        s.rollback()
        form.url = mask_url(form.url)  # a password typed into the URL is not sent back to the browser
        return _list(request, s, p, PageRequest(), form=form, error=exc)
    return RedirectResponse(f"/quality/sources/{src.name}?done=added", status_code=303)


def _detail(request: Request, s: Session, p: Principal, name: str, page: int = 1, size: int = 20, *,
            done: str | None = None, error: DomainError | None = None) -> Response:
    src = sources.get(s, name)
    pulls, total = sources.pulls_page(s, src.id, max(1, page), size)
    dept = s.get(Department, src.department)
    pager = Page(pulls, total, max(1, page), size, None, True)
    return no_store(render(request, "quality/sources_detail.html", status_code=error.status if error else 200,
                           src=src, dept=dept, mapping=sources.mapping_of(src), pulls=pager, params="",
                           done=done, error=error, may_write=p.role == "operator", **_labels()))


@router.get("/quality/sources/{name}", response_class=HTMLResponse)
def source_page(request: Request, name: str, page: PageNo = 1, size: PageSize = 20, done: str = "",
                p: Principal = Depends(READ), s: Session = Depends(db_session, scope="function")) -> Response:
    return _detail(request, s, p, name, page, size, done=DONE.get(done))


@router.post("/quality/sources/{name}/pull", response_class=HTMLResponse)
def pull_now(request: Request, name: str, p: Principal = Depends(WRITE),
             s: Session = Depends(db_session, scope="function")) -> Response:
    sources.get(s, name)
    s.commit()  # the pull writes through its own sessions; this request holds no transaction meanwhile
    n = node(request)
    try:
        sources.pull(n.db, n.catalog, n.settings.var_dir, name, p.username)
    except DomainError as exc:
        return _detail(request, s, p, name, error=exc)
    return RedirectResponse(f"/quality/sources/{name}?done=pulled", status_code=303)


@router.post("/quality/sources/{name}/{action}", response_class=HTMLResponse)
def change_state(request: Request, name: str, action: str, reason: str = Form(""), value: str = Form(""),
                 p: Principal = Depends(WRITE), s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        if action == "pause":
            sources.pause(s, name, p.username)
        elif action == "resume":
            sources.resume(s, name, p.username)
        elif action == "reset-watermark":
            sources.reset_watermark(s, name, value, reason, p.username)
        else:
            return Response(status_code=404)
    except DomainError as exc:
        s.rollback()
        return _detail(request, s, p, name, error=exc)
    done = {"pause": "paused", "resume": "resumed", "reset-watermark": "reset"}[action]
    return RedirectResponse(f"/quality/sources/{name}?done={done}", status_code=303)


__all__ = ["SourceForm", "parse_mapping", "router"]
