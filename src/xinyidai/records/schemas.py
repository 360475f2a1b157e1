"""What the records API takes in: corrections and withdrawals of a record."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WithdrawIn(BaseModel):
    reason: str = Field(..., min_length=2, max_length=2000, description="撤回原因")


class CorrectIn(BaseModel):
    changes: dict[str, str] = Field(..., min_length=1, description="字段代码 → 新值（文本，按清单校验）")
    reason: str = Field(..., min_length=2, max_length=2000, description="更正原因")
