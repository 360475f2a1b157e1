"""JSON interface of the credit products: an entity's evaluation, reports for banks (authorized version,
under the rules of authorized sharing) and report verification (open to anyone holding a report)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from xinyidai.access import runtime, sharing
from xinyidai.credit import evaluation, reports
from xinyidai.credit.pages import STAFF, issuer_of, visible_report
from xinyidai.entities.accounts import Principal
from xinyidai.kit import clock
from xinyidai.kit.errors import InvalidInput
from xinyidai.web.deps import db_session, node, require

router = APIRouter(prefix="/api/v1/credit", tags=["信用评价与信用报告"])


def _report_json(rep: Any, request: Request) -> dict[str, Any]:
    return {"report_no": rep.report_no, "entity_code": rep.entity_code, "version": rep.version,
            "recipient": rep.recipient, "snapshot_date": rep.snapshot_date.isoformat(),
            "generated_at": rep.generated_at.isoformat(), "verification_code": rep.verification_code,
            "digest": rep.digest, "key_id": rep.key_id, "suite": rep.suite, "signature": rep.signature,
            "content": rep.content, "pdf_url": f"/api/v1/credit/reports/{rep.report_no}/pdf"}


@router.get("/entities/{code}/evaluation", summary="主体的公共信用综合评价（最近一次批量结果，或按基准日即时计算）")
def entity_evaluation(code: str, as_of: date | None = Query(None, description="评价基准日（即时计算）"),
                      p: Principal = Depends(require(*STAFF)),
                      s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    code = code.strip().upper()
    if as_of is not None:
        if as_of > clock.today():
            raise InvalidInput("评价基准日不能晚于今天", code="AS_OF_IN_FUTURE")
        return evaluation.evaluate_one(s, code, as_of)
    return evaluation.result_for(s, code) or evaluation.evaluate_one(s, code, clock.today())


class ReportIn(BaseModel):
    purpose: str = Field("贷前审查", description="查询用途")
    authorization: str | None = Field(None, description="指定使用的授权编号（可选）")


@router.post("/entities/{code}/reports", summary="生成授权版信用报告（消耗一次授权使用次数，企业可见）")
def authorized_report(code: str, request: Request, body: ReportIn = Body(default_factory=ReportIn),
                      request_id: str | None = Header(None, alias="X-Request-Id"),
                      p: Principal = Depends(require("bank")),
                      s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    actor = sharing.actor_of(p, request_id)
    issuer, node_code, base = issuer_of(request)
    rep = runtime.served(s, actor, code.strip().upper(), "report", body.purpose, lambda: reports.authorized_report(
        s, node(request).catalog, runtime.policy(request), runtime.signer(request), actor, code.strip().upper(),
        issuer=issuer, node_code=node_code, verify_base=base, purpose=body.purpose, number=body.authorization))
    return _report_json(rep, request)


@router.get("/reports/{report_no}", summary="取回一份报告（授权版仅限其使用机构）")
def get_report(report_no: str, request: Request, p: Principal = Depends(require(*STAFF, "enterprise", "bank")),
               s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return _report_json(visible_report(s, p, report_no), request)


@router.get("/reports/{report_no}/pdf", summary="报告 PDF（嵌入中文字体）")
def report_pdf(report_no: str, request: Request, p: Principal = Depends(require(*STAFF, "enterprise", "bank")),
               s: Session = Depends(db_session, scope="function")) -> Response:
    from xinyidai.credit.pages import report_pdf as page_pdf

    return page_pdf(report_no, request, p, s)


class VerifyIn(BaseModel):
    code: str = Field(..., description="报告封面上的验证码")
    report_no: str | None = None


@router.post("/reports/verify", summary="核验报告（无需登录）")
def verify(request: Request, body: VerifyIn) -> dict[str, Any]:
    with node(request).db.session() as s:
        out = reports.verify(s, runtime.signer(request), body.code, body.report_no)
    if "generated_at" in out:
        out["generated_at"] = out["generated_at"].isoformat()
    return out
