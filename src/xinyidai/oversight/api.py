"""JSON API of oversight: compute or fetch the run of a period, read a stored ranking with every city's raw
values and scores; the banks' monitoring lines, the 督办 tasks and the progress reports (own and received). Regulators and operators only; a period with no data is refused with OVERSIGHT_NO_DATA,
a bad period with BAD_MONTH or MONTH_RANGE_INVERTED."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.market.figures import Period, month_label
from xinyidai.oversight import banks, progress, runs, tasks
from xinyidai.oversight.models import Run
from xinyidai.oversight.schemas import BankLineOut, RankingOut, ReportSummaryOut, RunIn, RunOut, TaskOut
from xinyidai.web.deps import db_session, require
from xinyidai.web.params import PageNo, PageSize

router = APIRouter(prefix="/api/v1/oversight", tags=["考核督导"])
READ = require("regulator", "operator")


def run_out(r: Run) -> dict[str, Any]:
    return {"number": r.number, "system_version": r.system_version, "period_start": month_label(r.period_start),
            "period_end": month_label(r.period_end), "seq": r.seq, "reason": r.reason, "evidence": r.evidence,
            "elapsed_ms": r.elapsed_ms, "computed_by": r.computed_by, "computed_at": r.computed_at}


def ranking_out(rk: runs.Ranking) -> dict[str, Any]:
    cities = []
    for c in rk.cities:
        vals = []
        for ind in rk.system.indicators:
            v, sc, w = c.values.get(ind.code, (None, None, 0.0))
            vals.append({"indicator": ind.code, "name": ind.name, "unit": ind.unit,
                         "value": getattr(v, "value", None), "numerator": getattr(v, "numerator", None),
                         "denominator": getattr(v, "denominator", None), "score": sc, "weight": ind.weight,
                         "weighted": w})
        cities.append({"city_code": c.city_code, "name": c.name, "rank": c.rank, "total": c.total,
                       "missing": c.missing, "values": vals})
    return {"run": run_out(rk.run), "system_name": rk.system.name, "cities": cities}


@router.get("/runs", summary="历次考核计算", response_model=list[RunOut])
def list_runs(limit: int = Query(50, ge=1, le=200), p: Principal = Depends(READ),
              s: Session = Depends(db_session)) -> list[dict[str, Any]]:
    return [run_out(r) for r in runs.listing(s, limit)]


@router.post("/runs", summary="计算（或取回已保存的）某期考核排名", response_model=RankingOut)
def make_run(body: RunIn, p: Principal = Depends(READ), s: Session = Depends(db_session, scope="function")
             ) -> dict[str, Any]:
    r = runs.run(s, runs.period_of(body.start, body.end), p.username, recompute_reason=body.reason)
    s.commit()
    return ranking_out(runs.ranking(s, r))


@router.get("/runs/{number}", summary="一次考核计算的排名与各项指标值", response_model=RankingOut)
def get_run(number: str, p: Principal = Depends(READ), s: Session = Depends(db_session)) -> dict[str, Any]:
    return ranking_out(runs.ranking(s, runs.by_number(s, number)))


@router.get("/banks", summary="银行监测：各银行（总行）的入驻、产品、申请、授信", response_model=list[BankLineOut])
def bank_lines(start: str | None = Query(None, alias="from", max_length=10, description="起始月份 YYYY-MM"),
               end: str | None = Query(None, alias="to", max_length=10, description="截止月份 YYYY-MM"),
               p: Principal = Depends(READ), s: Session = Depends(db_session)) -> list[dict[str, Any]]:
    mon = banks.monitor(s.connection(), Period.parse(start, end))
    return [{"code": b.code, "name": b.name, "institutions": b.institutions, "products_published": b.products_published,
             "products_live": b.products_live, "applications": b.applications, "responded": b.responded,
             "accepted": b.accepted, "accept_rate": b.accept_rate, "breached": b.breached, "loans": b.loans,
             "granted": b.granted_fen / 100, "credit_share_amount": b.credit_share_amount,
             "first_loans": b.first_loans, "first_share_count": b.first_share_count,
             "median_first_response_hours": b.first_response_hours} for b in mon.lines]


@router.get("/tasks", summary="督办事项（分页）", response_model=list[TaskOut])
def task_list(state: Literal["open", "answered", "done", "returned"] | None = Query(None),
              kind: Literal["notice", "province", "followup"] | None = Query(None),
              city: str | None = Query(None, max_length=6), overdue: bool = Query(False),
              page: PageNo = 1, size: PageSize = 50, p: Principal = Depends(READ),
              s: Session = Depends(db_session)) -> list[dict[str, Any]]:
    got = tasks.listing(s, state=state, kind=kind, city=city, overdue_only=overdue,
                        page=PageRequest(page=page, size=size, sort="deadline"))
    return [{"number": t.number, "kind": t.kind, "title": t.title, "clause": t.clause, "owner": t.owner,
             "city_code": t.city_code, "deadline": t.deadline, "state": t.state, "overdue": tasks.is_overdue(t),
             "indicator": t.indicator or None, "answered_at": t.answered_at, "closed_at": t.closed_at}
            for t in got.items]


@router.get("/reports", summary="进展报告：本节点编制的，或下级节点报送的（received=true）",
            response_model=list[ReportSummaryOut])
def report_list(received: bool = Query(False), p: Principal = Depends(READ),
                s: Session = Depends(db_session)) -> list[dict[str, Any]]:
    out = []
    for rep in progress.listing(s, received=received):
        sm = progress.summary(rep)
        out.append({**sm, "state": rep.state, "granted": None if sm["granted_fen"] is None else sm["granted_fen"] / 100})
    return out
