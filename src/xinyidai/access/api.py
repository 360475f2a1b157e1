"""JSON API of authorized sharing: for institutions (profile, detail, export, verification), enterprises
(grant, revoke, who looked) and staff (audit search, alerts). Same services and rules as the pages.

Institutions authenticate with a logged-in session or with an API credential (see institutions/request_auth.py).
A read that spends a use of an authorization, asked with a session cookie, is served only when the browser
says a page of this site made it (`runtime.refuse_cross_site`): another site's link cannot spend in a bank's
name.
`X-Request-Id` makes a request idempotent: a repeated id is answered again without spending another use of
the authorization (and, for verification, returns the stored answer and receipt).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import Response
from pydantic import Field
from sqlalchemy.orm import Session

from xinyidai.access import anomalies, authorizations, log, runtime, sharing, verification
from xinyidai.access.schemas import GrantIn, VerificationIn
from xinyidai.kit.audit import Signer
from xinyidai.kit.node_key import published_keys
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.web.deps import Caller, caller, db_session, node, require
from xinyidai.web.openapi import CSV, download
from xinyidai.web.params import Day, PageNo, PageSize, RowId

router = APIRouter(prefix="/api/v1/access", tags=["授权共享"])
PURPOSE_Q = Query("贷前审查", description="查询用途：贷前审查 / 贷中管理 / 贷后管理")
AUTH_Q = Query(None, alias="authorization", description="指定使用的授权编号（可选；不指定则使用全部有效授权）")
REQUEST_ID_H = Header(None, alias="X-Request-Id", description="请求编号，用于幂等")


# ── institutions ─────────────────────────────────────────────────────────────────────────────────────────

class JsonBody(Response):
    """A JSON answer returned as is. The institutions' query routes answer on every loan decision; letting
    FastAPI validate and re-encode the returned dict cost about a tenth of a profile request. Their
    OpenAPI entries keep `response_model`."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


@router.get("/entities/{code}/profile", summary="企业信用概况（公开信息 + 授权范围内的汇总信息）",
            response_model=dict[str, Any])
async def profile(code: str, request: Request, purpose: str = PURPOSE_Q, number: str | None = AUTH_Q,
                  request_id: str | None = REQUEST_ID_H, bank: Caller = Depends(caller("bank"))) -> Response:
    def work(p: Principal, s: Session) -> dict[str, Any]:
        runtime.refuse_cross_site(request)
        actor = sharing.actor_of(p, request_id)
        return runtime.served(s, actor, code, "profile", purpose, lambda: sharing.profile(
            s, node(request).catalog, runtime.policy(request), actor, code, purpose=purpose, number=number))
    return JsonBody(await bank.run(work))


@router.get("/entities/{code}/records/{category}", summary="某类信息的原始明细（公开类别，或“原始明细”方式的授权）",
            response_model=dict[str, Any])
async def detail(code: str, category: str, request: Request, purpose: str = PURPOSE_Q,
                 number: str | None = AUTH_Q, request_id: str | None = REQUEST_ID_H,
                 bank: Caller = Depends(caller("bank"))) -> Response:
    def work(p: Principal, s: Session) -> dict[str, Any]:
        runtime.refuse_cross_site(request)
        actor = sharing.actor_of(p, request_id)
        return runtime.served(s, actor, code, "detail", purpose, lambda: sharing.detail(
            s, node(request).catalog, runtime.policy(request), actor, code, category, purpose=purpose,
            number=number))
    return JsonBody(await bank.run(work))


@router.get("/entities/{code}/records/{category}/export", summary="导出某类信息的明细（CSV，带追溯标记）",
            response_class=Response,
            responses=download(CSV, "CSV（UTF-8，带 BOM）；响应头 X-Export-Id 为追溯标记的编号"))
async def export(code: str, category: str, request: Request, purpose: str = PURPOSE_Q,
                 number: str | None = AUTH_Q, request_id: str | None = REQUEST_ID_H,
                 bank: Caller = Depends(caller("bank"))) -> Response:
    def work(p: Principal, s: Session) -> tuple[str, str]:
        runtime.refuse_cross_site(request)
        actor = sharing.actor_of(p, request_id)
        secret = node(request).settings.ensure_secret_key()
        return runtime.served(s, actor, code, "export", purpose, lambda: sharing.export_csv(
            s, node(request).catalog, runtime.policy(request), actor, code, category, purpose=purpose,
            secret=secret, number=number))
    export_id, text = await bank.run(work)
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{export_id}.csv"', "X-Export-Id": export_id})


@router.post("/entities/{code}/verifications", summary="核验比对：提交声明，返回相符 / 不符 / 无法判断及签名回执",
             response_model=dict[str, Any])
async def verify(code: str, request: Request, body: VerificationIn, request_id: str | None = REQUEST_ID_H,
                 bank: Caller = Depends(caller("bank"))) -> Response:
    def work(p: Principal, s: Session) -> dict[str, Any]:
        actor, n = sharing.actor_of(p, request_id or body.request_id), node(request)
        sig: Signer = runtime.signer(request)
        return runtime.served(s, actor, code, "verify", "核验", lambda: verification.verify(
            s, n.catalog, runtime.policy(request), sig, n.settings.node_code, actor, code, body.claims,
            number=body.authorization), keep=(verification.ProbingLimited,))
    return JsonBody(await bank.run(work))


@router.get("/node-key", summary="本节点用于签名回执与审计检查点的公钥（及轮换前用过的全部公钥）")
def node_key(request: Request, p: Principal = Depends(require())) -> dict[str, Any]:
    sig = runtime.signer(request)
    # Receipts name the key that signed them: one signed before a key rotation verifies with `published`.
    return {"suite": sig.suite, "key_id": sig.key_id, "public_key": sig.public_key,
            "published": published_keys(node(request).settings.var_dir)}


# ── authorizations ───────────────────────────────────────────────────────────────────────────────────────


class ConfirmIn(GrantIn):
    text_digest: str = Field(min_length=1, description="预览时返回的授权书文本摘要，证明确认的正是所展示的文本")


@router.get("/authorizations", summary="授权列表（企业：本企业授出的；机构：授予本机构的）")
def list_authorizations(request: Request, status: str | None = None, entity: str | None = None, page: PageNo = 1,
                        size: PageSize = 20, sort: str | None = None, desc: bool = True,
                        p: Principal = Depends(require("enterprise", "bank", *STAFF)),
                        s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    result = authorizations.list_visible(s, p, PageRequest(page, size, sort, desc), status=status, entity_code=entity)
    return result.as_dict([authorizations.authorization_dict(a) for a in result.items])


@router.get("/authorizations/{number}", summary="一份授权书")
def get_authorization(number: str, p: Principal = Depends(require("enterprise", "bank", *STAFF)),
                      s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return authorizations.authorization_dict(authorizations.get_own(s, p, number))


@router.post("/authorizations/preview", summary="预览授权书文本（确认时须回传其摘要）")
def preview(request: Request, body: GrantIn, p: Principal = Depends(require("enterprise")),
            s: Session = Depends(db_session, scope="function")) -> dict[str, str]:
    text, digest = authorizations.preview(s, node(request).catalog, p, body.to_request())
    return {"text": text, "text_digest": digest}


@router.post("/authorizations", status_code=201, summary="确认并授予授权")
def grant(request: Request, body: ConfirmIn, p: Principal = Depends(require("enterprise")),
          s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    a = authorizations.grant(s, node(request).catalog, p, body.to_request(), body.text_digest)
    return authorizations.authorization_dict(a)


@router.post("/authorizations/{number}/revoke", summary="撤销授权（立即生效：此后的任何请求均不再依据该授权办理）")
def revoke(number: str, reason: str = Body("", embed=True), p: Principal = Depends(require("enterprise")),
           s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return authorizations.authorization_dict(authorizations.revoke(s, p, number, reason))


@router.get("/my/accesses", summary="谁查看了我的数据（本企业被访问与授权记录）")
def my_accesses(page: PageNo = 1, size: PageSize = 20, action: str | None = None,
                institution: str | None = Query(None, description="只看该机构（统一社会信用代码）的记录"),
                p: Principal = Depends(require("enterprise")), s: Session = Depends(db_session, scope="function")
                ) -> dict[str, Any]:
    result = log.my_accesses(s, p, PageRequest(page, size, "id", True), action=action, institution=institution)
    return result.as_dict(log.access_dicts(s, result.items))


# ── staff ────────────────────────────────────────────────────────────────────────────────────────────────

@router.get("/audit", summary="检索访问与审计日志")
def audit_search(entity: str | None = None, institution: str | None = None, action: str | None = None,
                 actor: str | None = None, day_from: Day | None = Query(None, alias="from"),
                 day_to: Day | None = Query(None, alias="to"), page: PageNo = 1, size: PageSize = 50,
                 p: Principal = Depends(require(*STAFF)), s: Session = Depends(db_session, scope="function")
                 ) -> dict[str, Any]:
    result = log.search(s, PageRequest(page, size, "id", True), entity=entity, institution=institution,
                        action=action, actor=actor, day_from=day_from, day_to=day_to)
    return result.as_dict([{**row, "target": e.target, "digest": e.digest}
                           for row, e in zip(log.access_dicts(s, result.items), result.items, strict=True)])


@router.get("/alerts", summary="异常访问告警")
def alerts(status: str | None = None, rule: str | None = None, page: PageNo = 1, size: PageSize = 20,
           p: Principal = Depends(require(*STAFF)), s: Session = Depends(db_session, scope="function")
           ) -> dict[str, Any]:
    result = anomalies.list_alerts(s, PageRequest(page, size, "created_at", True), status, rule)
    return result.as_dict([anomalies.alert_dict(a) for a in result.items])


@router.post("/alerts/scan", summary="立即运行异常检测规则")
def scan(request: Request, p: Principal = Depends(require("operator", "security")),
         s: Session = Depends(db_session, scope="function")) -> dict[str, int]:
    return {"new_alerts": anomalies.scan(s, runtime.policy(request))}


@router.post("/alerts/{alert_id}/close", summary="处理并关闭告警")
def close(alert_id: RowId, note: str = Body("", embed=True), p: Principal = Depends(require("operator", "security")),
          s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return anomalies.alert_dict(anomalies.close_alert(s, alert_id, p.username, note))
