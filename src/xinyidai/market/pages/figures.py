"""融资统计: the market's figures for operators and regulators — a page of charts, each with its table under it,
every table downloadable as CSV or XLSX, and the same numbers as JSON (`GET /api/v1/market/figures`).

Thin: the numbers come from `market.figures.report` (one grouped pass plus small queries); this module only
turns them into ECharts options, which `/static/market-figures.js` draws (no inline scripts under the CSP)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from xinyidai.kit.errors import InvalidInput, NotFound
from xinyidai.kit.principal import Principal
from xinyidai.market import figures
from xinyidai.market.figures import COUNT, HOURS, PCT, WAN, Line, Period, Report
from xinyidai.web.deps import db_session, require
from xinyidai.web.templating import no_store, render

router = APIRouter()
READERS = ("operator", "regulator")
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
YI = 10**10  # 分 in one 亿元, the unit of the charts' amounts (the tables keep 万元)


def _period(start: str | None, end: str | None) -> Period:
    return Period.parse(start, end)


# ── charts: complete ECharts options, built here from the report ────────────────────────────────────────

def _pct(share: float | None) -> float | None:
    return None if share is None else float(figures.pct(share))


def _yi(fen: int) -> float:
    return round(fen / YI, 2)


def _nice(x: float) -> float:
    """A round upper bound for an axis: 39 → 40, 200 → 200, 1234 → 1500."""
    if x <= 0:
        return 1.0
    step = 10 ** math.floor(math.log10(x)) / 2
    return math.ceil(x / step) * step


def gauge(rep: Report) -> dict[str, Any]:
    """Progress to the target: cumulative 授信 as a share of it (a full dial once the target is exceeded)."""
    pr = rep.figures.progress
    value = _pct(pr.share) or 0.0
    return {"series": [{
        "type": "gauge", "startAngle": 210, "endAngle": -30, "min": 0, "max": max(100.0, value), "radius": "92%",
        "center": ["50%", "60%"], "progress": {"show": True, "width": 18, "itemStyle": {"color": "#b4232a"}},
        "axisLine": {"lineStyle": {"width": 18, "color": [[1, "#e4e7eb"]]}}, "axisTick": {"show": False},
        "splitLine": {"show": False}, "axisLabel": {"show": False}, "pointer": {"show": False},
        "anchor": {"show": False}, "title": {"offsetCenter": [0, "38%"], "fontSize": 13, "color": "#6b7785"},
        "detail": {"offsetCenter": [0, "0%"], "fontSize": 30, "formatter": "{value}%", "color": "#1f2933"},
        "data": [{"value": value, "name": f"累计授信 / 目标 {_yi(pr.target_fen):,.0f} 亿元"}]}]}


def cumulative(rep: Report) -> dict[str, Any]:
    """Cumulative 授信 by month (line) over each month's 授信 (bars), with the target as a dashed line the
    axis always reaches, so the distance to it is seen."""
    months = rep.figures.by_month
    target = _yi(rep.figures.progress.target_fen)
    line = [_yi(m.cumulative_fen) for m in months]
    return {"tooltip": {"trigger": "axis"}, "legend": {"top": 0},
            "grid": {"left": 12, "right": 24, "top": 56, "bottom": 10, "containLabel": True},
            "xAxis": {"type": "category", "data": [m.label for m in months]},
            "yAxis": [{"type": "value", "name": "累计（亿元）", "min": 0, "max": _nice(max([target, *line]))},
                      {"type": "value", "name": "当月（亿元）", "splitLine": {"show": False}}],
            "series": [{"name": "累计授信", "type": "line", "data": line, "itemStyle": {"color": "#b4232a"},
                        "symbolSize": 4,
                        "markLine": {"symbol": "none", "silent": True,
                                     "lineStyle": {"type": "dashed", "color": "#6b7785"},
                                     "label": {"formatter": f"目标 {target:,.0f} 亿元", "position": "insideMiddleTop"},
                                     "data": [{"yAxis": target}]}},
                       {"name": "当月授信", "type": "bar", "yAxisIndex": 1, "barMaxWidth": 18,
                        "data": [_yi(m.m.granted_fen) for m in months], "itemStyle": {"color": "#cbd2d9"}}]}


def shares(lines: list[Line], *, horizontal: bool = False) -> dict[str, Any]:
    """Credit-loan and first-loan shares (%) of each line, by amount shown, by count a click away."""
    names = [ln.label for ln in lines]
    series = [("信用贷款占比·金额", "credit_share_amount", "#b4232a"), ("首贷占比·金额", "first_share_amount", "#2b6cb0"),
              ("信用贷款占比·笔数", "credit_share_count", "#e6a1a4"), ("首贷占比·笔数", "first_share_count", "#90b4dc")]
    cat = {"type": "category", "data": names,
           "axisLabel": {"interval": 0, "width": 200, "overflow": "truncate"} if horizontal else
           {"interval": 0, "rotate": 30, "width": 110, "overflow": "truncate"}}
    val = {"type": "value", "name": "%", "max": 100}
    return {"tooltip": {"trigger": "axis"},
            "legend": {"top": 0, "selected": {name: "金额" in name for name, _, _ in series}},
            "grid": {"left": 12, "right": 24, "top": 36, "bottom": 10, "containLabel": True},
            "xAxis": val if horizontal else cat, "yAxis": {**cat, "inverse": True} if horizontal else val,
            "series": [{"name": name, "type": "bar", "barMaxWidth": 16, "itemStyle": {"color": color},
                        "data": [_pct(getattr(ln.m, attr)) for ln in lines]} for name, attr, color in series]}


def charts(rep: Report) -> dict[str, dict[str, Any]]:
    f = rep.figures
    return {"gauge": gauge(rep), "months": cumulative(rep), "cities": shares(f.by_city),
            "banks": shares(f.by_bank, horizontal=True), "kinds": shares(f.by_kind), "sectors": shares(f.by_sector)}


# ── cells as the page writes them ───────────────────────────────────────────────────────────────────────

def cell(v: Any, kind: str, empty: str = "—") -> str:
    """A table value on the page: thousands separators, the places of the files, `empty` for nothing."""
    if v is None:
        return empty
    if kind == COUNT:
        return f"{v:,}"
    if kind == WAN and isinstance(v, Decimal):
        return f"{v:,.2f}"
    if kind in (PCT, HOURS) and isinstance(v, Decimal):
        return f"{v:,.1f}"
    return str(v)


def _query(period: Period) -> str:
    return urlencode({k: v for k, v in period.as_dict().items() if v})


@router.get("/market/figures", response_class=HTMLResponse, include_in_schema=False)
def figures_page(request: Request, start: str | None = Query(None, alias="from"), end: str | None = Query(None, alias="to"),
                 p: Principal = Depends(require(*READERS)),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        period = _period(start, end)
    except InvalidInput as exc:
        return no_store(render(request, "market/figures.html", status_code=exc.status, error=exc,
                               start=start or "", end=end or "", rep=None))
    rep = figures.report(s.connection(), period)
    through = rep.figures.progress.through
    return no_store(render(request, "market/figures.html", rep=rep, tables=figures.tables(rep), charts=charts(rep),
                           cell=cell, wan=figures.wan, pct=figures.pct, query=_query(period),
                           through=figures.month_label(through) if through else "—",
                           start=period.as_dict()["from"] or "", end=period.as_dict()["to"] or "", error=None))


def _download(name: str, body: bytes, fmt: str, period: Period) -> Response:
    span = "-".join(x.replace("-", "") for x in (period.as_dict()["from"], period.as_dict()["to"]) if x)
    stem = f"market-figures-{name}" + (f"-{span}" if span else "")
    title = figures.TABLES.get(name, "全部统计表")
    chinese = f"融资统计-{title}" + (f"-{span}" if span else "")
    return no_store(Response(body, media_type=FORMATS[fmt], headers={
        "Content-Disposition": f"attachment; filename=\"{stem}.{fmt}\"; filename*=UTF-8''{quote(chinese)}.{fmt}"}))


@router.get("/market/figures/download/{name}.{fmt}", include_in_schema=False)
def figures_download(name: str, fmt: str, start: str | None = Query(None, alias="from"),
                     end: str | None = Query(None, alias="to"), p: Principal = Depends(require(*READERS)),
                     s: Session = Depends(db_session, scope="function")) -> Response:
    """One table as CSV or XLSX, or every table as one workbook (`all.xlsx`), in the page's period."""
    if fmt not in FORMATS:
        raise NotFound(f"不支持的下载格式“{fmt}”；可选：csv、xlsx", code="UNKNOWN_FORMAT")
    if name != "all" and name not in figures.TABLES:
        raise NotFound(f"没有名为“{name}”的统计表；可选：{'、'.join(figures.TABLES)}", code="UNKNOWN_TABLE")
    if name == "all" and fmt != "xlsx":
        raise NotFound("全部统计表只提供 XLSX 工作簿（all.xlsx）；单张表可下载 CSV", code="UNKNOWN_FORMAT")
    period = _period(start, end)
    rep = figures.report(s.connection(), period)
    ts = figures.tables(rep)
    if fmt == "csv":
        return _download(name, figures.csv_bytes(ts[name]), fmt, period)
    return _download(name, figures.xlsx_bytes(list(ts.values()) if name == "all" else [ts[name]], period), fmt,
                     period)
