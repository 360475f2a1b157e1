"""What the institutions API takes in: onboarding, status changes, users and credentials."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from xinyidai.institutions import onboarding as svc
from xinyidai.institutions.models import INSTITUTION_KINDS
from xinyidai.web.params import Moment


class InstitutionIn(BaseModel):
    code: str = Field(min_length=1, description="机构的统一社会信用代码")
    name: str = Field(min_length=1)
    kind: str = Field(min_length=1, description="、".join(INSTITUTION_KINDS),
                      json_schema_extra={"enum": list(INSTITUTION_KINDS)})
    parent_code: str | None = None
    region_code: str | None = None
    contact: str | None = None
    rate_per_minute: int = Field(600, ge=1, le=100_000, description="每分钟请求上限")


class StatusIn(BaseModel):
    action: Literal["suspend", "reactivate", "revoke"]
    reason: str = Field(min_length=2, max_length=500)


class UserIn(BaseModel):
    username: str = Field(min_length=1)
    display_name: str = ""
    password: str = Field(min_length=1)
    org_admin: StrictBool = False


class UserActiveIn(BaseModel):
    active: StrictBool
    reason: str = ""


class CredentialIn(BaseModel):
    kind: Literal["api_key", "sm2", "ed25519"] = "api_key"
    label: str = ""
    public_key: str | None = Field(None, description="签名公钥（sm2/ed25519）：十六进制或 PEM")
    expires_at: Moment | None = Field(None, description="有效期截止时间（含时区）；不填则长期有效")


class RotateIn(BaseModel):
    grace_hours: int = Field(svc.DEFAULT_GRACE_HOURS, ge=0, le=svc.MAX_GRACE_HOURS,
                             description="旧凭证继续有效的小时数；0 表示立即吊销")
    public_key: str | None = Field(None, description="签名凭证轮换时的新公钥")
