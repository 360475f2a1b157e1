"""Pages of the scorecard models for staff: the list (status changes, loan-outcome import, training a new
version) and one model (selected variables, points table, metrics, monitoring over time). Only operators
write; regulators and security staff read."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.access import runtime
from xinyidai.access.pages import no_store
from xinyidai.credit import features as F
from xinyidai.credit import models_service
from xinyidai.credit.models import MODEL_STATUSES, ModelMonitor, ScorecardModel
from xinyidai.credit.scorecard import Scorecard
from xinyidai.entities.accounts import Principal
from xinyidai.entities.people import name_of, names_of
from xinyidai.kit.errors import DomainError, InvalidInput, NotFound
from xinyidai.web.app import render
from xinyidai.web.deps import db_session, require

router = APIRouter(include_in_schema=False)
STAFF = ("operator", "regulator", "security")
MAX_CSV = 20 * 1024 * 1024
LABELS = {f.code: f.label for f in F.FEATURES}
PSI_WARN, PSI_BAD = 0.1, 0.25


def _list_page(request: Request, s: Session, status_code: int = 200, **extra: Any) -> Response:
    models = models_service.list_models(s)
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
        with runtime._write_lock(s):  # noqa: SLF001 - the audit chain's head is taken in this thread
            m = models_service.train_model(s, name[:100], p.username)
            s.commit()
    except DomainError as exc:
        s.rollback()
        return _list_page(request, s, exc.status, train_error=exc, train_name=name)
    return RedirectResponse(f"/credit/models/{m.id}", status_code=303)


@router.post("/credit/models/{model_id}/status")
def change_status(model_id: int, request: Request, status: str = Form(""),
                  p: Principal = Depends(require("operator")),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    with runtime._write_lock(s):  # noqa: SLF001
        models_service.set_status(s, model_id, status, p.username)
        s.commit()
    return RedirectResponse("/credit/models", status_code=303)


@router.post("/credit/outcomes")
def upload_outcomes(request: Request, file: UploadFile = File(...), p: Principal = Depends(require("operator")),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    data = file.file.read(MAX_CSV + 1)
    try:
        if len(data) > MAX_CSV:
            raise InvalidInput("文件超过 20 MB", code="FILE_TOO_LARGE")
        with runtime._write_lock(s):  # noqa: SLF001
            result = models_service.import_outcomes(s, data, p.username)
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
    rows = models_service.history(s, m.id)
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
def model_detail(model_id: int, request: Request, p: Principal = Depends(require(*STAFF)),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    return _model_page(request, s, model_id)


@router.post("/credit/models/{model_id}/monitor")
def run_monitor(model_id: int, request: Request, as_of: str = Form(""), p: Principal = Depends(require("operator")),
                s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        try:
            day = date.fromisoformat(as_of.strip())
        except ValueError:
            raise InvalidInput("监测基准日格式应为 YYYY-MM-DD", code="BAD_AS_OF") from None
        with runtime._write_lock(s):  # noqa: SLF001
            models_service.monitor(s, model_id, day)
            s.commit()
    except NotFound:
        raise
    except DomainError as exc:
        s.rollback()
        return _model_page(request, s, model_id, exc.status, monitor_error=exc, as_of=as_of)
    return RedirectResponse(f"/credit/models/{model_id}", status_code=303)
