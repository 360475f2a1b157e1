"""What the network's staff API takes in: decisions on peers, quality feedback, reconciliation, banks' needs,
the 先立后破 cut."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from xinyidai.network import exchange


class Decision(BaseModel):
    reason: str
    deadline: date | None = None


class FeedbackIn(BaseModel):
    entity_code: str = Field(max_length=18)
    category: str = Field(max_length=40)
    record_key: str | None = Field(default=None, max_length=300)
    problem: str = Field(max_length=2000)


class ReconcileIn(BaseModel):
    days: int = Field(default=7, ge=1, le=exchange.MAX_DAYS)
    peer: str | None = None
    force: bool = False


class NeedIn(BaseModel):
    category: str = Field(max_length=40)
    items: list[str] = Field(min_length=1, max_length=200)
    reason: str = Field(max_length=2000)
    institution_code: str | None = Field(default=None, max_length=18)  # operators only; a bank files for itself


class CutIn(BaseModel):
    reason: str = Field(default="先立后破：新路径对账一致，切断原直连", max_length=1000)
    force: bool = False
