"""What the reports API takes in: a request for an authorized report, a verification."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ReportIn(BaseModel):
    purpose: str = Field("贷前审查", min_length=1, description="查询用途")
    authorization: str | None = Field(None, description="指定使用的授权编号（可选）")


class VerifyIn(BaseModel):
    code: str = Field(..., min_length=1, description="报告封面上的验证码")
    report_no: str | None = None
