"""Pages of quality monitoring (operators run, regulators read): the latest run with its progress bar and the
findings of a run (paged, sortable, filtered), one finding with its sample, the providers' scorecards with
their trend, and the rule set's versions with upload and the default for download.

Writes are POST → redirect → GET with `done`; a refused rule file comes back with every error listed."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.kit.errors import DomainError, NotFound
from xinyidai.kit.pagination import PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.quality import rules, runs, scorecards
from xinyidai.quality.models import DIMENSIONS, RUN_STATUSES, SEVERITIES, Finding, QualityRun, RuleSet
from xinyidai.web.deps import Node, db_session, node, require
from xinyidai.web.params import INT32_MAX, PageNo, PageSize, RowId, SmallRowId
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
READ = require("operator", "regulator")
WRITE = require("operator")
DONE = {"started": "质量检查已开始，进度见下方。", "rules": "规则集已载入为新版本，下次检查起生效。"}
SORTABLE = {"id": Finding.id, "severity": Finding.severity, "provider": Finding.provider,
            "rule": Finding.rule_id, "affected": Finding.affected, "dimension": Finding.dimension,
            "category": Finding.category}


def _labels() -> dict[str, Any]:
    return {"dimensions": DIMENSIONS, "severities": SEVERITIES, "statuses": RUN_STATUSES}


@router.get("/quality", response_class=HTMLResponse)
def quality_page(request: Request, run: Annotated[int | None, Query(ge=1, le=INT32_MAX, description="检查编号")] = None,
                 dimension: str = "", severity: str = "",
                 provider: str = "", category: str = "", done: str = "", page: PageNo = 1, size: PageSize = 20,
                 sort: str | None = None, desc: bool = True, p: Principal = Depends(READ),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    latest = runs.latest_run(s)
    shown = s.get(QualityRun, run) if run else latest
    recent = s.scalars(select(QualityRun).order_by(QualityRun.id.desc()).limit(10)).all()
    q = select(Finding).where(Finding.run_id == (shown.id if shown else -1))
    for col, value in ((Finding.dimension, dimension), (Finding.severity, severity), (Finding.provider, provider),
                       (Finding.category, category)):
        if value:
            q = q.where(col == value)
    result = paginate(s, q, PageRequest(page, size, sort, desc).clamp(), SORTABLE, "affected")
    providers = sorted(set(s.scalars(select(Finding.provider).where(Finding.run_id == (shown.id if shown else -1))
                                     .distinct())))
    params = urlencode({k: v for k, v in (("run", str(shown.id) if shown and run else ""), ("dimension", dimension),
                                          ("severity", severity), ("provider", provider), ("category", category))
                        if v})
    return no_store(render(request, "quality/runs.html", latest=latest, run=shown, recent=recent, page=result,
                           params=params, dimension=dimension, severity=severity, provider=provider,
                           category=category, providers=providers, may_run=p.role == "operator",
                           done=DONE.get(done), **_labels()))


@router.get("/quality/runs/{run_id}/progress", response_class=HTMLResponse)
def run_progress(request: Request, run_id: SmallRowId, p: Principal = Depends(READ),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    run = s.get(QualityRun, run_id)
    if run is None:
        raise NotFound(f"没有第 {run_id} 次质量检查", code="QUALITY_RUN_NOT_FOUND")
    return no_store(render(request, "quality/_runs_progress.html", run=run, **_labels()))


@router.post("/quality/run")
def start_run(request: Request, p: Principal = Depends(WRITE), n: Node = Depends(node)) -> Response:
    running = None
    with n.db.session() as s:
        running = s.scalar(select(QualityRun.id).where(QualityRun.status == "running").limit(1))
    run_id = running or runs.run_in_background(n.db, n.catalog, p.username)
    return RedirectResponse(f"/quality?run={run_id}&done=started", status_code=303)


@router.get("/quality/findings/{finding_id}", response_class=HTMLResponse)
def finding_page(request: Request, finding_id: RowId, p: Principal = Depends(READ),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    f = s.get(Finding, finding_id)
    if f is None:
        raise NotFound(f"没有第 {finding_id} 项发现", code="FINDING_NOT_FOUND")
    run = s.get(QualityRun, f.run_id)
    return no_store(render(request, "quality/findings_detail.html", f=f, run=run, sample=runs.sample_of(f),
                           may_ticket=p.role == "operator", **_labels()))


@router.get("/quality/scores", response_class=HTMLResponse)
def scores_page(request: Request, p: Principal = Depends(READ),
                s: Session = Depends(db_session, scope="function")) -> Response:
    run, rows = scorecards.latest(s)
    table: dict[str, dict[str, Any]] = {}
    for r in rows:
        table.setdefault(r.provider, {})[r.dimension] = r
    trend = {prov: [{"run": h.id, "as_of": h.as_of.isoformat(), "score": sc.get("overall")}
                    for h, sc in scorecards.history(s, prov, 30)] for prov in table}
    return no_store(render(request, "quality/scores.html", run=run, table=dict(sorted(table.items())),
                           trend=trend, **_labels()))


def _rules_page(request: Request, s: Session, n: Node, *, text: str = "", errors: list[str] | None = None,
                message: str | None = None, done: str | None = None, status: int = 200) -> Response:
    active = rules.active(s, n.catalog)
    versions = rules.versions(s)
    return no_store(render(request, "quality/rules.html", status_code=status, active=active, versions=versions,
                           active_text=versions[0].text if versions else "", text=text, errors=errors or [],
                           message=message, done=DONE.get(done or ""), **_labels()))


@router.get("/quality/rules", response_class=HTMLResponse)
def rules_page(request: Request, done: str = "", p: Principal = Depends(READ), n: Node = Depends(node),
               s: Session = Depends(db_session, scope="function")) -> Response:
    return _rules_page(request, s, n, done=done)


@router.post("/quality/rules", response_class=HTMLResponse)
def load_rules(request: Request, text: str = Form(""), note: str = Form(""), p: Principal = Depends(WRITE),
               n: Node = Depends(node), s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        rules.store(s, text, p.username, note or None, catalog=n.catalog)
    except DomainError as exc:
        s.rollback()
        errors = exc.detail.get("errors", []) if isinstance(exc.detail, dict) else []
        return _rules_page(request, s, n, text=text, errors=errors, message=exc.message, status=exc.status)
    return RedirectResponse("/quality/rules?done=rules", status_code=303)


@router.get("/quality/rules/default.yaml")
def default_rules(p: Principal = Depends(READ), n: Node = Depends(node)) -> Response:
    return PlainTextResponse(rules.default_text(n.catalog), media_type="application/yaml; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="quality-rules-default.yaml"'})


@router.get("/quality/rules/{version}.yaml")
def rules_version(version: SmallRowId, p: Principal = Depends(READ), s: Session = Depends(db_session, scope="function")) -> Response:
    row = s.get(RuleSet, version)
    if row is None:
        raise NotFound(f"没有第 {version} 版规则集", code="RULES_NOT_FOUND")
    return PlainTextResponse(row.text, media_type="application/yaml; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="quality-rules-v{version}.yaml"'})


def trend_json(trend: dict[str, Any]) -> str:
    return json.dumps(trend, ensure_ascii=False)
