"""考核排名 pages for the province's business-environment office (role regulator) and the operator: pick a
period, compute (or open the stored) run, see the map of the cities coloured by total, the ranking table, each
city's values, scores and trend, and — from any value — the rows behind it. Runs export to XLSX; the indicator
system in force is shown and a new version can be loaded.

The map is drawn by /static/oversight.js from the vendored ECharts and the schematic GeoJSON of the province
(/static/geo/heilongjiang.json, see its ATTRIBUTION.md); the options are built here."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.kit.errors import DomainError
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.market.figures import month_label
from xinyidai.oversight import indicators, runs
from xinyidai.oversight.exports import ranking_xlsx
from xinyidai.oversight.measures import MEASURES
from xinyidai.web.deps import db_session, require
from xinyidai.web.templating import render

router = APIRouter(include_in_schema=False)
READ = require("regulator", "operator")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SORTS = {"rank": "名次", "total": "总分", "name": "地区", "missing": "缺数"}
ROWS_PER_PAGE = 50


def fmt(v: float | None, unit: str = "") -> str:
    """A value as the tables write it: 无 when missing, two places at most."""
    if v is None:
        return "无"
    if float(v).is_integer() and unit not in ("%",):
        return f"{int(v):,}"
    return f"{v:,.2f}"


def map_option(r: runs.Ranking) -> dict[str, Any]:
    data = [{"name": c.name, "value": round(c.total, 2), "rank": c.rank, "code": c.city_code} for c in r.cities]
    totals = [c.total for c in r.cities]
    return {"tooltip": {"trigger": "item"},
            "visualMap": {"min": round(min(totals), 2) if totals else 0, "max": round(max(totals), 2) if totals else 100,
                          "left": 8, "bottom": 8, "text": ["高", "低"], "calculable": True,
                          "inRange": {"color": ["#f4d8d9", "#e6a1a4", "#c8474e", "#8f1d22"]}},
            "series": [{"type": "map", "map": "heilongjiang", "nameProperty": "name", "roam": False,
                        "label": {"show": True, "fontSize": 10}, "data": data,
                        "emphasis": {"label": {"show": True}}}]}


def trend_option(points: list[runs.TrendPoint]) -> dict[str, Any]:
    return {"tooltip": {"trigger": "axis"}, "legend": {"top": 0},
            "grid": {"left": 12, "right": 40, "top": 36, "bottom": 10, "containLabel": True},
            "xAxis": {"type": "category", "data": [month_label(p.period_start) for p in points]},
            "yAxis": [{"type": "value", "name": "总分", "min": 0, "max": 100},
                      {"type": "value", "name": "名次", "inverse": True, "min": 1, "max": 13}],
            "series": [{"name": "总分", "type": "line", "data": [round(p.total, 2) for p in points],
                        "itemStyle": {"color": "#b4232a"}},
                       {"name": "名次", "type": "line", "yAxisIndex": 1, "data": [p.rank for p in points],
                        "itemStyle": {"color": "#52606d"}}]}


def _sorted(r: runs.Ranking, sort: str, desc: bool) -> list[runs.CityResult]:
    key = {"rank": lambda c: (c.rank, c.city_code), "total": lambda c: (c.total, c.city_code),
           "name": lambda c: c.city_code, "missing": lambda c: (c.missing, c.city_code)}[sort]
    return sorted(r.cities, key=key, reverse=desc)


def _group_scores(r: runs.Ranking, c: runs.CityResult) -> dict[str, float]:
    """The city's weighted points per group of indicators (the parts of its total)."""
    out = {g: 0.0 for g in r.system.groups}
    for ind in r.system.indicators:
        out[ind.group] += c.values.get(ind.code, (None, None, 0.0))[2]
    return out


@router.get("/oversight", response_class=HTMLResponse)
def home(request: Request, start: str = Query("", max_length=10), end: str = Query("", max_length=10),
         run: str = Query("", max_length=60),
         sort: str = Query("rank", max_length=20), desc: int = Query(0, ge=0, le=1), p: Principal = Depends(READ),
         s: Session = Depends(db_session)) -> Response:
    error, ranking, period = None, None, None
    try:
        if run:
            ranking = runs.ranking(s, runs.by_number(s, run))
        elif start:
            period = runs.period_of(start, end or None)
            held = runs.stored(s, indicators.active(s), period)
            ranking = runs.ranking(s, held) if held else None
        else:
            latest = runs.latest(s)
            ranking = runs.ranking(s, latest) if latest else None
    except DomainError as exc:
        error = exc
    if sort not in SORTS:
        sort = "rank"
    shown = _sorted(ranking, sort, bool(desc)) if ranking else []
    if ranking is not None:
        start = start or month_label(ranking.run.period_start)
        end = end or month_label(ranking.run.period_end)
    return render(request, "oversight/ranking.html", ranking=ranking, shown=shown, error=error, start=start,
                  end=end, sort=sort, desc=bool(desc), sorts=SORTS, fmt=fmt, period=period,
                  map_option=map_option(ranking) if ranking else None, group_scores=_group_scores,
                  history=runs.listing(s, 20), system=indicators.active(s))


@router.post("/oversight/runs", response_class=HTMLResponse)
def compute_run(request: Request, start: str = Form(""), end: str = Form(""), reason: str = Form(""),
                p: Principal = Depends(READ), s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        r = runs.run(s, runs.period_of(start, end or None), p.username, recompute_reason=reason or None)
        s.commit()
    except DomainError as exc:
        s.rollback()
        return render(request, "oversight/ranking.html", status_code=exc.status, ranking=None, shown=[], error=exc,
                      start=start, end=end, sort="rank", desc=False, sorts=SORTS, fmt=fmt, period=None,
                      map_option=None, group_scores=_group_scores, history=runs.listing(s, 20),
                      system=indicators.active(s))
    return RedirectResponse(f"/oversight?run={quote(r.number)}", status_code=303)


@router.get("/oversight/runs/{number}.xlsx")
def export(number: str, p: Principal = Depends(READ), s: Session = Depends(db_session)) -> Response:
    r = runs.ranking(s, runs.by_number(s, number))
    name = quote(f"信易贷工作考核排名-{r.period_text}-{number}.xlsx")
    return Response(ranking_xlsx(r), media_type=XLSX,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"})


@router.get("/oversight/runs/{number}/cities/{city}", response_class=HTMLResponse)
def city_page(request: Request, number: str, city: str, p: Principal = Depends(READ),
              s: Session = Depends(db_session)) -> Response:
    r = runs.ranking(s, runs.by_number(s, number))
    c = r.city(city)
    points = runs.trend(s, city, r.run.system_version)
    return render(request, "oversight/city.html", ranking=r, c=c, fmt=fmt, measures=MEASURES,
                  trend=trend_option(points) if len(points) > 1 else None, points=points,
                  group_scores=_group_scores(r, c))


@router.get("/oversight/runs/{number}/cities/{city}/{indicator}", response_class=HTMLResponse)
def drill_page(request: Request, number: str, city: str, indicator: str, page: int = Query(1, ge=1, le=100_000),
               p: Principal = Depends(READ), s: Session = Depends(db_session)) -> Response:
    run = runs.by_number(s, number)
    r = runs.ranking(s, run)
    c = r.city(city)
    ind = r.system.indicator(indicator)
    pg = PageRequest(page=page, size=ROWS_PER_PAGE)
    labels, rows, total = runs.drill_rows(s, run, city, indicator, offset=(pg.page - 1) * pg.size, limit=pg.size)
    pages = max(1, -(-total // pg.size))
    return render(request, "oversight/drill.html", ranking=r, c=c, ind=ind, measure=MEASURES[ind.measure],
                  value=c.values.get(indicator), labels=labels, rows=rows, total=total, page=pg.page, pages=pages,
                  fmt=fmt)


@router.get("/oversight/indicators", response_class=HTMLResponse)
def indicator_page(request: Request, p: Principal = Depends(READ), s: Session = Depends(db_session)) -> Response:
    return render(request, "oversight/indicators.html", system=indicators.active(s), versions=indicators.versions(s),
                  measures=MEASURES, error=None, done=request.query_params.get("done"))


@router.post("/oversight/indicators", response_class=HTMLResponse)
async def load_indicators(request: Request, file: UploadFile = File(...), p: Principal = Depends(require("regulator")),
                          s: Session = Depends(db_session, scope="function")) -> Response:
    data = await file.read(256 * 1024 + 1)
    try:
        if len(data) > 256 * 1024:
            raise indicators.IndicatorsInvalid("指标体系文件超过 256 KB")
        system = indicators.load_text(io.BytesIO(data).getvalue())
        indicators.store(s, system, p.username)
        s.commit()
    except DomainError as exc:
        s.rollback()
        return render(request, "oversight/indicators.html", status_code=exc.status, system=indicators.active(s),
                      versions=indicators.versions(s), measures=MEASURES, error=exc, done=None)
    return RedirectResponse(f"/oversight/indicators?done={quote(system.version)}", status_code=303)
