"""JSON API for financial institutions, their users and credentials (operators write; regulators and
security officers read; an institution reads itself through `/api/v1/institutions/me`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from xinyidai.institutions import onboarding as svc
from xinyidai.institutions.schemas import (
    CredentialIn,
    InstitutionIn,
    RotateIn,
    StatusIn,
    UserActiveIn,
    UserIn,
)
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.web.deps import db_session, require
from xinyidai.web.params import PageNo, PageSize, SmallRowId

router = APIRouter(prefix="/api/v1/institutions", tags=["金融机构"])
READ = ("operator", "regulator", "security", "bank")


@router.get("", summary="金融机构名录（名称关键字或代码前缀，可按状态筛选）")
def list_institutions(q: str = "", status: str | None = None, page: PageNo = 1, size: PageSize = 20,
                      sort: str | None = None, desc: bool = False, p: Principal = Depends(require(*READ)),
                      s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    result = svc.search(s, p, q, status=status, req=PageRequest(page, size, sort, desc))
    return result.as_dict([svc.institution_dict(i) for i in result.items])


@router.post("", status_code=201, summary="接入一家金融机构（运营人员）")
def onboard(body: InstitutionIn, p: Principal = Depends(require("operator")),
            s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    inst = svc.onboard(s, p, **body.model_dump())
    return svc.institution_dict(inst)


@router.get("/me", summary="调用者所属的金融机构（用于检查接口凭证是否可用）")
def me(request: Request, p: Principal = Depends(require("bank")),
       s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    inst = svc.get(s, p, p.org_code or "")
    return {**svc.institution_dict(inst), "principal": p.username,
            "authenticated_by": getattr(request.state, "auth_method", "session")}


@router.get("/{code}", summary="一家金融机构")
def get_one(code: str, p: Principal = Depends(require(*READ)),
            s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return svc.institution_dict(svc.get(s, p, code))


@router.post("/{code}/status", summary="暂停、恢复或撤销机构接入（须填写原因）")
def change_status(code: str, body: StatusIn, p: Principal = Depends(require("operator")),
                  s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return svc.institution_dict(svc.change_status(s, p, code, body.action, body.reason))


@router.get("/{code}/users", summary="机构用户")
def users(code: str, p: Principal = Depends(require(*READ)),
          s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return {"items": [svc.user_dict(u) for u in svc.list_users(s, p, code)]}


@router.post("/{code}/users", status_code=201, summary="添加机构用户（角色 bank）")
def add_user(code: str, body: UserIn, p: Principal = Depends(require("operator")),
             s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return svc.user_dict(svc.add_user(s, p, code, **body.model_dump()))


@router.post("/{code}/users/{user_id}/active", summary="停用或启用机构用户")
def user_active(code: str, user_id: SmallRowId, body: UserActiveIn, p: Principal = Depends(require("operator")),
                s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return svc.user_dict(svc.set_user_active(s, p, code, user_id, body.active, body.reason))


@router.get("/{code}/credentials", summary="机构的接口凭证（不含密钥）")
def credentials(code: str, p: Principal = Depends(require(*READ)),
                s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return {"items": [svc.credential_dict(c) for c in svc.list_credentials(s, p, code)]}


@router.post("/{code}/credentials", status_code=201,
             summary="签发 API 密钥（密钥只在此响应中出现一次）或登记签名公钥")
def add_credential(code: str, body: CredentialIn, p: Principal = Depends(require("operator")),
                   s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    if body.kind == "api_key":
        issued = svc.issue_api_key(s, p, code, label=body.label, expires_at=body.expires_at)
        out = {**svc.credential_dict(issued.credential), "api_key": issued.token}
    else:
        cred = svc.register_public_key(s, p, code, kind=body.kind, public_key=body.public_key or "",
                                       label=body.label, expires_at=body.expires_at)
        out = svc.credential_dict(cred)
    return JSONResponse(out, status_code=201, headers={"Cache-Control": "no-store"})


@router.post("/{code}/credentials/{key_id}/rotate", summary="轮换凭证：新凭证立即可用，旧凭证在过渡期后失效")
def rotate(code: str, key_id: str, body: RotateIn, p: Principal = Depends(require("operator")),
           s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    new, issued = svc.rotate(s, p, code, key_id, grace_hours=body.grace_hours, public_key=body.public_key)
    old = svc.get_credential(s, p, code, key_id)
    out: dict[str, Any] = {"new": svc.credential_dict(new), "old": svc.credential_dict(old)}
    if issued is not None:
        out["api_key"] = issued.token
    return JSONResponse(out, headers={"Cache-Control": "no-store"})


@router.post("/{code}/credentials/{key_id}/status", summary="暂停、恢复或吊销凭证（须填写原因）")
def credential_status(code: str, key_id: str, body: StatusIn, p: Principal = Depends(require("operator")),
                      s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return svc.credential_dict(svc.change_credential_status(s, p, code, key_id, body.action, body.reason))
