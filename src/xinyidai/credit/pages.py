"""Pages of the credit products for staff: evaluation runs with progress, the indicator systems, and the
scorecard models (status changes, loan-outcome import, training a new version, one model's monitoring)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.accounts.people import name_of, names_of
from xinyidai.credit import evaluation, scorecards
from xinyidai.credit import features as F
from xinyidai.credit.models import MODEL_STATUSES, RUN_STATUSES, ModelMonitor, ScorecardModel
from xinyidai.credit.scorecard import Scorecard
from xinyidai.kit import clock
from xinyidai.kit.db import write_lock
from xinyidai.kit.errors import DomainError, InvalidInput, NotFound
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import SmallRowId
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
MAX_CSV = 20 * 1024 * 1024
LABELS = {f.code: f.label for f in F.FEATURES}
PSI_WARN, PSI_BAD = 0.1, 0.25


def _list_page(request: Request, s: Session, status_code: int = 200, **extra: Any) -> Response:
    models = scorecards.list_models(s)
    return no_store(render(request, "credit/models.html", status_code=status_code, models=models,
                           people=names_of(s, [m.trained_by for m in models]), statuses=MODEL_STATUSES, **extra))


@router.get("/credit/models", response_class=HTMLResponse)
def models_list(request: Request, p: Principal = Depends(require(*STAFF)),
                s: Session = Depends(db_session, scope="function")) -> Response:
    return _list_page(request, s)


@router.post("/credit/models/train")
def train(request: Request, name: str = Form(""), p: Principal = Depends(require("operator")),
          s: Session = Depends(db_session, scope="function")) -> Response:
    name = name.strip()
    try:
        if not name:
            raise InvalidInput("请填写模型名称", code="MODEL_NAME_MISSING")
        with write_lock(s):  # the audit chain's head is taken in this thread
            m = scorecards.train_model(s, name[:100], p.username)
            s.commit()
    except DomainError as exc:
        s.rollback()
        return _list_page(request, s, exc.status, train_error=exc, train_name=name)
    return RedirectResponse(f"/credit/models/{m.id}", status_code=303)


@router.post("/credit/models/{model_id}/status")
def change_status(model_id: SmallRowId, request: Request, status: str = Form(""),
                  p: Principal = Depends(require("operator")),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    with write_lock(s):
        scorecards.set_status(s, model_id, status, p.username)
        s.commit()
    return RedirectResponse("/credit/models", status_code=303)


@router.post("/credit/outcomes")
def upload_outcomes(request: Request, file: UploadFile = File(...), p: Principal = Depends(require("operator")),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    data = file.file.read(MAX_CSV + 1)
    try:
        if len(data) > MAX_CSV:
            raise InvalidInput("文件超过 20 MB", code="FILE_TOO_LARGE")
        with write_lock(s):
            result = scorecards.import_outcomes(s, data, p.username)
            s.commit()
    except DomainError as exc:
        s.rollback()
        rows = exc.detail if isinstance(exc.detail, list) else []
        return _list_page(request, s, exc.status, import_error=exc, import_rows=rows)
    return _list_page(request, s, imported=result)


# ── one model ───────────────────────────────────────────────────────────────────────────────────────────

def _line(dates: list[str], series: list[dict[str, Any]], y_name: str) -> str:
    return json.dumps({
        "tooltip": {"trigger": "axis"}, "legend": {"top": 0},
        "grid": {"left": 50, "right": 60, "top": 36, "bottom": 30},
        "xAxis": {"type": "category", "data": dates}, "yAxis": {"type": "value", "name": y_name},
        "series": series,
    }, ensure_ascii=False)


def _r(v: float | None) -> float | None:
    return None if v is None else round(float(v), 4)


def monitoring_charts(rows: list[ModelMonitor]) -> tuple[str, str]:
    """ECharts options: AUC and KS per as_of; PSI of the score with dashed 0.1 / 0.25 reference lines."""
    dates = [r.as_of.isoformat() for r in rows]
    disc = _line(dates, [{"type": "line", "name": "AUC", "data": [_r(r.auc) for r in rows], "connectNulls": False},
                         {"type": "line", "name": "KS", "data": [_r(r.ks) for r in rows], "connectNulls": False}],
                 "AUC / KS")
    marks = {"symbol": "none", "silent": True, "data": [
        {"yAxis": PSI_WARN, "name": "关注", "lineStyle": {"type": "dashed", "color": "#b7791f"},
         "label": {"formatter": "关注 0.1"}},
        {"yAxis": PSI_BAD, "name": "显著偏移", "lineStyle": {"type": "dashed", "color": "#c53030"},
         "label": {"formatter": "显著 0.25"}}]}
    top = max([PSI_BAD * 1.2] + [r.psi for r in rows if r.psi is not None])
    psi = json.loads(_line(dates, [{"type": "line", "name": "评分 PSI", "data": [_r(r.psi) for r in rows],
                                    "markLine": marks}], "PSI"))
    psi["yAxis"]["max"] = round(top, 2)
    return disc, json.dumps(psi, ensure_ascii=False)


def psi_band(v: float) -> str:
    return "psi-bad" if v > PSI_BAD else "psi-warn" if v >= PSI_WARN else ""


def _model_page(request: Request, s: Session, model_id: int, status_code: int = 200, **extra: Any) -> Response:
    m = s.get(ScorecardModel, model_id)
    if m is None:
        raise NotFound("未找到该评分卡模型", code="MODEL_NOT_FOUND")
    card = Scorecard.from_dict(m.spec)
    rows = scorecards.history(s, m.id)
    charts = monitoring_charts(rows) if rows else None
    latest = rows[-1] if rows else None
    psi_vars = sorted(((v, float(x), psi_band(float(x))) for v, x in (latest.psi_variables or {}).items()),
                      key=lambda t: -t[1]) if latest else []
    selection = sorted(card.selection, key=lambda x: (not x.get("selected"), -(x.get("iv") or 0)))
    return no_store(render(request, "credit/model.html", status_code=status_code, m=m, statuses=MODEL_STATUSES,
                           selection=selection, points=card.points_table(), labels=LABELS,
                           train=m.metrics.get("train") or {}, test=m.metrics.get("test") or {},
                           history=rows, charts=charts, latest=latest, psi_vars=psi_vars,
                           trained_by=name_of(s, m.trained_by), **extra))


@router.get("/credit/models/{model_id}", response_class=HTMLResponse)
def model_detail(model_id: SmallRowId, request: Request, p: Principal = Depends(require(*STAFF)),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    return _model_page(request, s, model_id)


@router.post("/credit/models/{model_id}/monitor")
def run_monitor(model_id: SmallRowId, request: Request, as_of: str = Form(""), p: Principal = Depends(require("operator")),
                s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        try:
            day = date.fromisoformat(as_of.strip())
        except ValueError:
            raise InvalidInput("监测基准日格式应为 YYYY-MM-DD", code="BAD_AS_OF") from None
        with write_lock(s):
            scorecards.monitor(s, model_id, day)
            s.commit()
    except NotFound:
        raise
    except DomainError as exc:
        s.rollback()
        return _model_page(request, s, model_id, exc.status, monitor_error=exc, as_of=as_of)
    return RedirectResponse(f"/credit/models/{model_id}", status_code=303)


# ── evaluation runs and indicator systems (staff) ───────────────────────────────────────────────────────

@router.get("/credit", response_class=HTMLResponse)
def credit_home(request: Request, error: str = "", p: Principal = Depends(require(*STAFF)),
                s: Session = Depends(db_session, scope="function")) -> Response:
    return _home(request, s, error=error)


def _home(request: Request, s: Session, *, error: str = "", spec_error: DomainError | None = None,
          spec: str = "") -> Response:
    """The runs, the latest grade distribution and the indicator systems (with a refused file, if any)."""
    runs = evaluation.runs(s, 30)
    latest_done = next((r for r in runs if r.status == "done"), None)
    found = evaluation.grade_distribution(s, latest_done.id) if latest_done else {}
    # Best grade first, in the table as in the chart (the stored order is alphabetical: A, A+, B …).
    order = ["A+", "A", "B+", "B", "C", "D", "数据不足"]
    dist = {g: found[g] for g in [*order, *sorted(set(found) - set(order))] if g in found}
    chart = json.dumps({
        "tooltip": {}, "grid": {"left": 50, "right": 20, "top": 36, "bottom": 30},
        "xAxis": {"type": "category", "data": list(dist)},
        "yAxis": {"type": "value", "name": "户数"},
        "series": [{"type": "bar", "data": list(dist.values()), "label": {"show": True, "position": "top"}}],
    }, ensure_ascii=False) if dist else None
    systems = evaluation.list_systems(s)
    people = names_of(s, [x.created_by for x in systems])
    return no_store(render(request, "credit/home.html", status_code=spec_error.status if spec_error else 200,
                           runs=runs, statuses=RUN_STATUSES, latest=latest_done, dist=dist, chart=chart,
                           systems=systems, people=people, today=clock.today().isoformat(), error=error,
                           spec_error=spec_error, spec=spec, running=any(r.status == "running" for r in runs)))


@router.get("/credit/runs/{run_id}/progress", response_class=HTMLResponse)
def run_progress(run_id: SmallRowId, request: Request, p: Principal = Depends(require(*STAFF)),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    from xinyidai.credit.models import EvaluationRun

    run = s.get(EvaluationRun, run_id)
    if run is None:
        raise NotFound("未找到该评价批次", code="RUN_NOT_FOUND")
    return no_store(render(request, "credit/_run_progress.html", run=run, statuses=RUN_STATUSES))


@router.post("/credit/runs")
def start_run(request: Request, as_of: str = Form(""), scope: str = Form("all"),
              p: Principal = Depends(require("operator")), s: Session = Depends(db_session, scope="function")
              ) -> Response:
    try:
        day = date.fromisoformat(as_of) if as_of else clock.today()
    except ValueError:
        raise InvalidInput("评价基准日格式应为 YYYY-MM-DD", code="BAD_AS_OF") from None
    if day > clock.today():
        raise InvalidInput("评价基准日不能晚于今天", code="AS_OF_IN_FUTURE")
    n = node(request)
    codes = None
    if scope == "changed":
        last = evaluation.last_done_run(s)
        if last is not None:
            codes = evaluation.changed_since(s, last.started_at)
            if not codes:
                return RedirectResponse("/credit?error=nothing_changed", status_code=303)
    s.close()
    run_id = evaluation.start_run(n.db, day, "changed" if codes is not None else "all", p.username, codes)
    n.executor.submit(_run_quietly, n.db, run_id, codes)
    return RedirectResponse("/credit", status_code=303)


def _run_quietly(db: Any, run_id: int, codes: list[str] | None) -> None:
    import logging

    try:
        evaluation.execute_run(db, run_id, codes)
    except Exception:  # the run row says it failed, with the message
        logging.getLogger(__name__).exception("evaluation run %s failed", run_id)


@router.post("/credit/indicators")
def load_indicators(request: Request, spec: str = Form(...), p: Principal = Depends(require("operator")),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        with write_lock(s):
            evaluation.load_system(s, spec, p.username)
            s.commit()
    except DomainError as exc:
        s.rollback()
        return _home(request, s, spec_error=exc, spec=spec)
    return RedirectResponse("/credit", status_code=303)
