"""JSON API of oversight: compute or fetch the run of a period, read a stored ranking with every city's raw
values and scores. Regulators and operators only; a period with no data is refused with OVERSIGHT_NO_DATA,
a bad period with BAD_MONTH or MONTH_RANGE_INVERTED."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from xinyidai.kit.principal import Principal
from xinyidai.market.figures import month_label
from xinyidai.oversight import runs
from xinyidai.oversight.models import Run
from xinyidai.oversight.schemas import RankingOut, RunIn, RunOut
from xinyidai.web.deps import db_session, require

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
