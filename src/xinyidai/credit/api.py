"""JSON interface of the credit evaluation: an entity's public credit evaluation (staff)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from xinyidai.credit import evaluation
from xinyidai.kit import clock
from xinyidai.kit.errors import InvalidInput
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.web.deps import db_session, require
from xinyidai.web.params import Day

router = APIRouter(prefix="/api/v1/credit", tags=["信用评价与信用报告"])


@router.get("/entities/{code}/evaluation", summary="主体的公共信用综合评价（最近一次批量结果，或按基准日即时计算）")
def entity_evaluation(code: str, as_of: Day | None = Query(None, description="评价基准日（即时计算）"),
                      p: Principal = Depends(require(*STAFF)),
                      s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    code = code.strip().upper()
    if as_of is not None:
        if as_of > clock.today():
            raise InvalidInput("评价基准日不能晚于今天", code="AS_OF_IN_FUTURE")
        return evaluation.evaluate_one(s, code, as_of)
    return evaluation.result_for(s, code) or evaluation.evaluate_one(s, code, clock.today())
