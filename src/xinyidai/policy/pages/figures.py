"""政策资金统计 pages: the programmes a reader may see (`/policy/figures`, optionally one kind) or one programme
(`/policy/figures/{number}`) — cards, charts, and sortable paged tables per programme, bank and city, each table
downloadable as CSV or XLSX. Every number links to the rows it counts (`/policy/figures/rows/{measure}`),
whose total is printed above them.

Operators and regulators see every programme; a policy officer those of his division (the check lives in
`programmes.visible`). The numbers come from `policy.figures`; this module turns them into ECharts options,
which the vendored ECharts draws through `/static/market-figures.js` (no inline scripts under the CSP)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from xinyidai.kit.errors import NotFound
from xinyidai.kit.pagination import MAX_PAGE, PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.policy import arithmetic, figures, programmes
from xinyidai.policy.figures import COUNT, PCT, WAN, Figures, Filter, Line
from xinyidai.policy.flows import CLAIM
from xinyidai.policy.models import KINDS
from xinyidai.web.deps import db_session, require
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
READ = require("policy", "operator", "regulator")
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
PAGE_SIZE = 20
CHART_LINES = 15  # the bars a chart shows: the largest; the tables hold every line


# ── charts ──────────────────────────────────────────────────────────────────────────────────────────────

def _w(fen: int) -> float:
    return float(figures.wan(fen))


def budget_use(f: Figures) -> dict[str, Any]:
    """Each programme's money: paid, held by pending claims, still available (万元), stacked."""
    progs = sorted(f.programmes, key=lambda ln: -ln.funds_in_fen)[:CHART_LINES]
    names = [ln.name for ln in progs]
    series = [("已拨付", [_w(ln.a.paid_fen) for ln in progs], "#b4232a"),
              ("待拨付", [_w(ln.a.pending_fen) for ln in progs], "#e6a1a4"),
              ("可用", [_w(max(ln.available_fen, 0)) for ln in progs], "#cbd2d9")]
    return {"tooltip": {"trigger": "axis"}, "legend": {"top": 0},
            "grid": {"left": 12, "right": 24, "top": 36, "bottom": 10, "containLabel": True},
            "xAxis": {"type": "value", "name": "万元"},
            "yAxis": {"type": "category", "data": names, "inverse": True,
                      "axisLabel": {"width": 180, "overflow": "truncate"}},
            "series": [{"name": n, "type": "bar", "stack": "money", "barMaxWidth": 22, "data": d,
                        "itemStyle": {"color": c}} for n, d, c in series]}


def fund(f: Figures) -> dict[str, Any]:
    """One programme's money in hand and paid out, as a ring: paid, pending, available."""
    parts = [("已拨付", f.totals.paid_fen, "#b4232a"), ("待拨付", f.totals.pending_fen, "#e6a1a4"),
             ("可用", max(f.available_fen, 0), "#cbd2d9")]
    return {"tooltip": {"trigger": "item"}, "legend": {"bottom": 0},
            "series": [{"type": "pie", "radius": ["45%", "72%"], "center": ["50%", "45%"],
                        "label": {"formatter": "{b}\n{d}%"},
                        "data": [{"name": n, "value": _w(v), "itemStyle": {"color": c}} for n, v, c in parts]}]}


def money_bars(lines: list[Line], *, horizontal: bool) -> dict[str, Any]:
    """Enrolled principal, used and paid (万元) of the largest lines, with the enterprises reached."""
    top = sorted(lines, key=lambda ln: -ln.a.enrolled_fen)[:CHART_LINES]
    if not horizontal:
        top = sorted(top, key=lambda ln: ln.key)
    cat = {"type": "category", "data": [ln.label for ln in top],
           "axisLabel": {"interval": 0, "width": 180, "overflow": "truncate"} if horizontal else
           {"interval": 0, "rotate": 30, "width": 110, "overflow": "truncate"}}
    val = {"type": "value", "name": "万元"}
    series = [{"name": n, "type": "bar", "barMaxWidth": 16, "itemStyle": {"color": c},
               "data": [_w(getattr(ln.a, attr)) for ln in top]}
              for n, attr, c in (("备案本金", "enrolled_fen", "#2b6cb0"), ("已使用", "used_fen", "#e6a1a4"),
                                 ("已拨付", "paid_fen", "#b4232a"))]
    option: dict[str, Any] = {"tooltip": {"trigger": "axis"}, "legend": {"top": 0},
                              "grid": {"left": 12, "right": 24, "top": 36, "bottom": 10, "containLabel": True},
                              "series": series}
    if horizontal:
        option.update(xAxis=val, yAxis={**cat, "inverse": True})
    else:
        option.update(xAxis=cat, yAxis=[val, {"type": "value", "name": "企业（户）", "splitLine": {"show": False}}])
        series.append({"name": "覆盖企业", "type": "line", "yAxisIndex": 1, "symbolSize": 5,
                       "itemStyle": {"color": "#1f2933"}, "data": [ln.a.enterprises for ln in top]})
    return option


def loss(lines: list[Line]) -> dict[str, Any]:
    """The loss ratio (%) of each bank with principal in a pool."""
    pooled = sorted((ln for ln in lines if ln.a.pool_enrolled_fen), key=lambda ln: -(ln.a.loss_ratio or 0))
    pooled = pooled[:CHART_LINES]
    return {"tooltip": {"trigger": "axis"},
            "grid": {"left": 12, "right": 24, "top": 24, "bottom": 10, "containLabel": True},
            "xAxis": {"type": "value", "name": "%"},
            "yAxis": {"type": "category", "inverse": True, "data": [ln.label for ln in pooled],
                      "axisLabel": {"width": 180, "overflow": "truncate"}},
            "series": [{"name": "损失率", "type": "bar", "barMaxWidth": 16, "itemStyle": {"color": "#b4232a"},
                        "data": [float(figures.pct(ln.a.loss_ratio) or 0) for ln in pooled]}]}


def charts(f: Figures) -> dict[str, dict[str, Any]]:
    out = {"cities": money_bars(f.by_city, horizontal=False), "banks": money_bars(f.by_bank, horizontal=True)}
    out["money"] = fund(f) if f.programme else budget_use(f)
    if f.totals.pool_enrolled_fen:
        out["loss"] = loss(f.by_bank)
    return out


# ── cells ───────────────────────────────────────────────────────────────────────────────────────────────

def cell(v: Any, kind: str) -> str:
    """A table value on the page: thousands separators, the files' places, 无 for nothing (a dash reads
    as 一 in a CJK font)."""
    if v is None:
        return "无"
    if kind == COUNT:
        return f"{v:,}"
    if kind in (WAN, PCT) and isinstance(v, Decimal):
        return f"{v:,.2f}"
    return str(v)


def _q(d: dict[str, Any]) -> str:
    return urlencode({k: v for k, v in d.items() if v not in (None, "")})


def _line_request(prefix: str, params: dict[str, Any], default: str) -> PageRequest:
    """The sort and page of one breakdown table from its own parameters (`bank_page`, `city_sort`, …), so the
    two tables of a page page and sort apart; a page number that is not one is the first page."""
    raw = str(params.get(f"{prefix}_page") or "1")
    page = int(raw) if raw.isdigit() and len(raw) <= 9 else 1
    return PageRequest(page, PAGE_SIZE, params.get(f"{prefix}_sort") or default,
                       params.get(f"{prefix}_desc", "true") != "false")


def _page(request: Request, s: Session, p: Principal, number: str | None, kind: str | None) -> Response:
    f = figures.compute(s, p, number, kind)
    q = dict(request.query_params)
    ts = figures.tables(f)
    pages = {"banks": figures.page_of(f.by_bank, _line_request("bank", q, "enrolled"), "enrolled"),
             "cities": figures.page_of(f.by_city, _line_request("city", q, "code"), "code")}
    # A paged table shows its page's rows; the download carries them all.
    for name, key in (("banks", "bank"), ("cities", "city")):
        codes = [ln.key for ln in pages[name].items]
        t = ts[name]
        order = {k[key]: i for i, k in enumerate(t.keys)}
        ts[name] = figures.Table(t.name, t.title, t.columns, [t.rows[order[c]] for c in codes],
                                 [t.keys[order[c]] for c in codes], t.note)
    scope = {"programme": number} if number else {"kind": kind} if kind else {}
    base = f"/policy/figures/{quote(number)}" if number else "/policy/figures"
    kept = {k: v for k, v in q.items() if k != "kind"}
    return no_store(render(request, "policy/figures.html", f=f, tables=ts, charts=charts(f), pages=pages,
                           cell=cell, wan=figures.wan, pct=figures.pct, kinds=KINDS, kind=kind or "",
                           number=number, base=base, scope=_q(scope), measures=figures.MEASURES,
                           rows_link=lambda measure, extra=None: f"/policy/figures/rows/{measure}?"
                           + _q({**scope, **(extra or {})}),
                           sort_link=lambda prefix, key, pg: "?" + _q({**kept, f"{prefix}_sort": key, f"{prefix}_page": 1,
                                                                    f"{prefix}_desc": "false" if pg.sort == key and pg.desc
                                                                    else "true", "kind": kind}),
                           page_link=lambda prefix, n: "?" + _q({**kept, f"{prefix}_page": n, "kind": kind})))


def _kind(kind: str | None) -> str | None:
    if kind and kind not in KINDS:
        raise NotFound(f"未知的政策类型“{kind}”；可选：{'、'.join(KINDS)}", code="BAD_POLICY_KIND")
    return kind or None


@router.get("/policy/figures", response_class=HTMLResponse)
def figures_page(request: Request, kind: str | None = None, p: Principal = Depends(READ),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    return _page(request, s, p, None, _kind(kind))


def _download(s: Session, p: Principal, name: str, fmt: str, number: str | None, kind: str | None) -> Response:
    if fmt not in FORMATS:
        raise NotFound(f"不支持的下载格式“{fmt}”；可选：csv、xlsx", code="UNKNOWN_FORMAT")
    if name != "all" and name not in figures.TABLES:
        raise NotFound(f"没有名为“{name}”的统计表；可选：{'、'.join(figures.TABLES)}", code="UNKNOWN_TABLE")
    if name == "all" and fmt != "xlsx":
        raise NotFound("全部统计表只提供 XLSX 工作簿（all.xlsx）；单张表可下载 CSV", code="UNKNOWN_FORMAT")
    f = figures.compute(s, p, number, kind)
    ts = figures.tables(f)
    scope = number or (KINDS[kind] if kind else "全部政策项目")
    stem = "-".join(x for x in ("policy-figures", number or kind or "all", name))
    chinese = f"政策资金统计-{scope}-{figures.TABLES.get(name, '全部统计表')}"
    caption = f"政策资金统计（{scope}），计算于 {f.computed_at:%Y-%m-%d %H:%M} UTC"
    body = figures.csv_bytes(ts[name]) if fmt == "csv" else \
        figures.xlsx_bytes(list(ts.values()) if name == "all" else [ts[name]], caption)
    return no_store(Response(body, media_type=FORMATS[fmt], headers={
        "Content-Disposition": f"attachment; filename=\"{stem}.{fmt}\"; filename*=UTF-8''{quote(chinese)}.{fmt}"}))


@router.get("/policy/figures/download/{name}.{fmt}")
def figures_download(name: str, fmt: str, kind: str | None = None, p: Principal = Depends(READ),
                     s: Session = Depends(db_session, scope="function")) -> Response:
    """One table as CSV or XLSX, or every table as one workbook (`all.xlsx`)."""
    return _download(s, p, name, fmt, None, _kind(kind))


@router.get("/policy/figures/rows/{measure}", response_class=HTMLResponse)
def rows_page(measure: str, request: Request, programme: str | None = None, kind: str | None = None,
              bank: str | None = None, city: str | None = None,
              page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE), size: int = Query(50, ge=1, le=200),
              sort: str | None = None, desc: bool = True, p: Principal = Depends(READ),
              s: Session = Depends(db_session, scope="function")) -> Response:
    """The rows a figure counts, with their total: what the figure says, row by row."""
    flt = Filter(measure, programme or None, _kind(kind), bank or None, city or None)
    if programme:
        programmes.get(s, p, programme)  # a programme the reader may not see is not found, not empty
    page = figures.rows(s, p, flt, PageRequest(page_no, size, sort, desc))
    n, total = flt.total(s, p)
    numbers = figures.programme_numbers(s, [r.programme_id for r in page.items])
    banks = figures.bank_names(s, [getattr(r, "bank_code", "") for r in page.items])
    return no_store(render(request, "policy/figures_rows.html", flt=flt, page=page, n=n, total=total,
                           title=figures.MEASURES[measure], numbers=numbers, banks=banks, wan=figures.wan,
                           city=figures.city_label, day=arithmetic.from_day, states={st.code: st.label for st in CLAIM.states}, kinds=KINDS,
                           params=_q(flt.params()), back=(f"/policy/figures/{quote(programme)}" if programme
                                                          else "/policy/figures" + ("?kind=" + kind if kind else ""))))


@router.get("/policy/figures/{number}", response_class=HTMLResponse)
def programme_figures(number: str, request: Request, p: Principal = Depends(READ),
                      s: Session = Depends(db_session, scope="function")) -> Response:
    return _page(request, s, p, number, None)


@router.get("/policy/figures/{number}/download/{name}.{fmt}")
def programme_download(number: str, name: str, fmt: str, p: Principal = Depends(READ),
                       s: Session = Depends(db_session, scope="function")) -> Response:
    return _download(s, p, name, fmt, number, None)
