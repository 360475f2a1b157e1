"""银行监测 (issue 17): every bank's branches, products, applications and 授信 in a period — for regulators and
operators. A bar chart of 授信 by bank, a sortable paged table, the table as CSV or XLSX, and one bank's
institutions and products (`/oversight/banks/{code}`).

Thin: the numbers come from `oversight.banks`; the chart is a complete ECharts option drawn by
`/static/market-figures.js` (no inline scripts under the CSP)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.kit.errors import InvalidInput, NotFound
from xinyidai.kit.pagination import MAX_PAGE, PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.market.figures import Period, csv_bytes, hours, pct, wan, xlsx_bytes
from xinyidai.market.pages import figures as figures_pages
from xinyidai.oversight import banks
from xinyidai.web.deps import db_session, require
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
READ = require("regulator", "operator")
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
PAGE_SIZE = 20
CHART_LINES = 20  # the chart shows the largest banks; the table holds every one


def chart(mon: banks.Monitoring) -> dict[str, Any]:
    """授信 (万元) of the banks with the most, largest on top, with the number of loans a click away."""
    top = [ln for ln in mon.lines if ln.granted_fen][:CHART_LINES]
    return {"tooltip": {"trigger": "axis"}, "legend": {"top": 0, "selected": {"授信额": True, "授信笔数": False}},
            "grid": {"left": 12, "right": 24, "top": 36, "bottom": 10, "containLabel": True},
            "xAxis": [{"type": "value", "name": "万元"}, {"type": "value", "name": "笔", "splitLine": {"show": False}}],
            "yAxis": {"type": "category", "inverse": True, "data": [ln.name for ln in top],
                      "axisLabel": {"width": 200, "overflow": "truncate"}},
            "series": [{"name": "授信额", "type": "bar", "barMaxWidth": 18, "itemStyle": {"color": "#b4232a"},
                        "data": [float(wan(ln.granted_fen)) for ln in top]},
                       {"name": "授信笔数", "type": "bar", "xAxisIndex": 1, "barMaxWidth": 18,
                        "itemStyle": {"color": "#cbd2d9"}, "data": [ln.loans for ln in top]}]}


def cell(v: Any, kind: str) -> str:
    """A value as the page writes it (market's figures' cells), with 无 for a rate of nothing: a dash reads as
    一 in a CJK font."""
    return figures_pages.cell(v, kind, empty="无")


def _q(d: dict[str, Any]) -> str:
    return urlencode({k: v for k, v in d.items() if v not in (None, "")})


def _request(params: dict[str, str]) -> PageRequest:
    raw = params.get("page") or "1"
    page = int(raw) if raw.isdigit() and len(raw) <= 9 and int(raw) <= MAX_PAGE else 1
    return PageRequest(page, PAGE_SIZE, params.get("sort") or banks.DEFAULT_SORT, params.get("desc", "true") != "false")


@router.get("/oversight/banks", response_class=HTMLResponse)
def banks_page(request: Request, start: str | None = Query(None, alias="from"), end: str | None = Query(None, alias="to"),
               p: Principal = Depends(READ), s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        period = Period.parse(start, end)
    except InvalidInput as exc:
        return no_store(render(request, "oversight/banks.html", status_code=exc.status, error=exc, mon=None,
                               start=start or "", end=end or ""))
    mon = banks.monitor(s.connection(), period)
    pg = banks.page_of(mon.lines, _request(dict(request.query_params)))
    kept = {"from": period.as_dict()["from"], "to": period.as_dict()["to"]}
    return no_store(render(
        request, "oversight/banks.html", error=None, mon=mon, pg=pg, table=banks.tables(mon, pg.items)[0],
        codes=[ln.code for ln in pg.items], sorts=banks.COLUMN_SORTS, chart=chart(mon), cell=cell, wan=wan,
        pct=pct, hours=hours, query=_q(kept),
        start=kept["from"] or "", end=kept["to"] or "",
        sort_link=lambda key: "?" + _q({**kept, "sort": key, "desc": "false" if pg.sort == key and pg.desc else "true"}),
        page_link=lambda n: "?" + _q({**kept, "sort": pg.sort, "desc": "true" if pg.desc else "false", "page": n})))


def _download(s: Session, fmt: str, start: str | None, end: str | None) -> Response:
    period = Period.parse(start, end)
    mon = banks.monitor(s.connection(), period)
    t = banks.tables(mon)
    body = csv_bytes(t[0]) if fmt == "csv" else xlsx_bytes(t, period)
    span = "-".join(x.replace("-", "") for x in (period.as_dict()["from"], period.as_dict()["to"]) if x)
    stem = "oversight-banks" + (f"-{span}" if span else "")
    chinese = "银行监测" + (f"-{span}" if span else "")
    return no_store(Response(body, media_type=FORMATS[fmt], headers={
        "Content-Disposition": f"attachment; filename=\"{stem}.{fmt}\"; filename*=UTF-8''{quote(chinese)}.{fmt}"}))


@router.get("/oversight/banks.xlsx")
def banks_xlsx(start: str | None = Query(None, alias="from"), end: str | None = Query(None, alias="to"),
               p: Principal = Depends(READ), s: Session = Depends(db_session, scope="function")) -> Response:
    """Every bank's line in the period, and the totals, as a workbook."""
    return _download(s, "xlsx", start, end)


@router.get("/oversight/banks.csv")
def banks_csv(start: str | None = Query(None, alias="from"), end: str | None = Query(None, alias="to"),
              p: Principal = Depends(READ), s: Session = Depends(db_session, scope="function")) -> Response:
    return _download(s, "csv", start, end)


@router.get("/oversight/banks/{code}", response_class=HTMLResponse)
def bank_page(code: str, request: Request, start: str | None = Query(None, alias="from"),
              end: str | None = Query(None, alias="to"), p: Principal = Depends(READ),
              s: Session = Depends(db_session, scope="function")) -> Response:
    """One bank: its line in the period, its institutions and its products with their state now. A branch's
    code leads to its head office."""
    code = code.strip().upper()
    conn = s.connection()
    head = banks.head_of(conn, code)
    if head is None:
        raise NotFound(f"没有统一社会信用代码为 {code} 的机构", code="UNKNOWN_BANK")
    period = Period.parse(start, end)
    query = _q(period.as_dict())
    if head != code:
        return RedirectResponse(f"/oversight/banks/{quote(head)}" + (f"?{query}" if query else ""), status_code=303)
    d = banks.detail(conn, code)
    line = banks.line_of(banks.monitor(conn, period, code), code) or banks.BankLine(code, d.head.name, d.head.status)
    return no_store(render(request, "oversight/banks_detail.html", d=d, line=line, period=period, query=query,
                           names={i.code: i.name for i in d.institutions},
                           cell=cell, wan=wan, pct=pct, hours=hours))
