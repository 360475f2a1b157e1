"""What the network's staff API takes in: decisions on peers, quality feedback, reconciliation, banks' needs,
the 先立后破 cut."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictBool

from xinyidai.network import exchange
from xinyidai.web.params import Day


class Decision(BaseModel):
    reason: str = Field(description="审核意见或理由：批准、驳回、整改、恢复、撤销须至少 2 个字；登记审核可为空")
    deadline: Day | None = None


class FeedbackIn(BaseModel):
    entity_code: str = Field(min_length=1, max_length=18)
    category: str = Field(min_length=1, max_length=40)
    record_key: str | None = Field(default=None, max_length=300)
    problem: str = Field(min_length=1, max_length=2000)


class ReconcileIn(BaseModel):
    days: int = Field(default=7, ge=1, le=exchange.MAX_DAYS)
    peer: str | None = None
    force: StrictBool = False


class NeedIn(BaseModel):
    category: str = Field(min_length=1, max_length=40)
    items: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    institution_code: str | None = Field(default=None, max_length=18)  # operators only; a bank files for itself


class CutIn(BaseModel):
    reason: str = Field(default="先立后破：新路径对账一致，切断原直连", max_length=1000)
    force: StrictBool = False
